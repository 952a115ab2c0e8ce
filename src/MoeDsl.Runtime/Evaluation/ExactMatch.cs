using System;
using System.Collections.Generic;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using static TorchSharp.torch;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Runtime.Evaluation;

/// <summary>Greedy exact match, computed with one teacher-forced forward per batch: a sequence counts as correct when the
/// argmax at every scored position (the answer and its end token) is the label. That is exactly "greedy decoding from
/// the prompt reproduces the answer and stops", without a decode loop.</summary>
public static class ExactMatch
{
    /// <summary>Fraction of sequences whose scored positions are all predicted (labels use -100 for unscored positions).</summary>
    public static double Accuracy(MoeCausalLM model, IReadOnlyList<TokenSequence> sequences, long padId, int batchSize = 64)
    {
        if (sequences.Count == 0) throw new ArgumentException("nothing to evaluate", nameof(sequences));
        bool wasTraining = model.training;
        model.eval();
        using var noGrad = no_grad();
        long correct = 0;
        Device device = model.Model.EmbedWeight.device;
        try
        {
            for (int start = 0; start < sequences.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var slice = new List<TokenSequence>();
                for (int i = start; i < Math.Min(start + batchSize, sequences.Count); i++) slice.Add(sequences[i]);
                using TokenBatch batch = TokenBatch.From(slice, padId, device);
                using CausalLMOutput output = model.Forward(batch.InputIds, tokenMask: batch.Mask);
                Tensor predicted = output.Logits.narrow(1, 0, output.Logits.shape[1] - 1).argmax(-1);     // predicts position t+1
                Tensor labels = batch.Labels.narrow(1, 1, batch.Labels.shape[1] - 1);
                Tensor scored = labels.ne(LanguageModelLoss.IgnoreIndex);
                Tensor wrong = predicted.ne(labels).logical_and(scored).any(1);
                correct += (long)wrong.logical_not().sum().item<long>();
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return (double)correct / sequences.Count;
    }
}
