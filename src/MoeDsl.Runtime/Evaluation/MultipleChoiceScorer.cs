using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Evaluation;

/// <summary>Accuracies of one task.</summary>
/// <param name="Task">Task name.</param>
/// <param name="Items">Items scored.</param>
/// <param name="LabelAccuracy">Label-token scoring: the next-token logits after the lettered prompt, restricted to the
/// option letters' tokens, pick the answer (MoE-PEFT, GMoE).</param>
/// <param name="Accuracy">Full-option log-likelihood: the option whose continuation has the largest summed log-probability
/// (lm-evaluation-harness <c>acc</c>).</param>
/// <param name="NormalizedAccuracy">The same divided by the continuation's character length (<c>acc_norm</c>).</param>
public sealed record TaskAccuracy(string Task, int Items, double LabelAccuracy, double Accuracy, double NormalizedAccuracy);

/// <summary>Per-item scores (for tests and error analysis).</summary>
/// <param name="LetterLogits">Logit of each option letter after the prompt.</param>
/// <param name="LogLikelihoods">Summed log-probability of each option's continuation.</param>
public sealed record ItemScores(double[] LetterLogits, double[] LogLikelihoods);

/// <summary>Scores multiple-choice items both ways, without gradients, in eval mode.</summary>
public static class MultipleChoiceScorer
{
    /// <summary>Scores one item: one forward over the prompt, one batched forward over context + each option.</summary>
    public static ItemScores Score(MoeCausalLM model, MultipleChoiceItem item)
    {
        bool wasTraining = model.training;
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Device device = model.Model.EmbedWeight.device;
        try
        {
            Tensor prompt = tensor(item.PromptIds, new long[] { 1, item.PromptIds.Length }, ScalarType.Int64, device);
            using CausalLMOutput p = model.Forward(prompt);
            Tensor last = p.Logits.select(1, -1).squeeze(0).to(ScalarType.Float32);
            Tensor letters = last.index_select(0, tensor(item.LetterIds, dtype: ScalarType.Int64, device: device)).cpu();
            double[] letterLogits = letters.data<float>().Select(x => (double)x).ToArray();

            int options = item.ContinuationIds.Count;
            int ctx = item.ContextIds.Length;
            int length = ctx + item.ContinuationIds.Max(c => c.Length);
            var ids = new long[options * length];
            for (int o = 0; o < options; o++)
            {
                Array.Copy(item.ContextIds, 0, ids, o * length, ctx);
                Array.Copy(item.ContinuationIds[o], 0, ids, o * length + ctx, item.ContinuationIds[o].Length);
            }
            Tensor batch = tensor(ids, new long[] { options, length }, ScalarType.Int64, device);
            using CausalLMOutput full = model.Forward(batch);
            Tensor logProbs = full.Logits.to(ScalarType.Float32).log_softmax(-1).cpu();   // [O, L, V]
            var ll = new double[options];
            for (int o = 0; o < options; o++)
            {
                long[] cont = item.ContinuationIds[o];
                Tensor rows = logProbs[o].narrow(0, ctx - 1, cont.Length);                  // position t predicts t + 1
                Tensor picked = rows.gather(1, tensor(cont, dtype: ScalarType.Int64).unsqueeze(1));
                ll[o] = picked.to(ScalarType.Float64).sum().item<double>();
            }
            return new ItemScores(letterLogits, ll);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>Accuracies of one task's items. <paramref name="onItem"/> is called after each item (progress).</summary>
    public static TaskAccuracy Evaluate(MoeCausalLM model, string task, IReadOnlyList<MultipleChoiceItem> items, Action<int>? onItem = null)
    {
        if (items.Count == 0) throw new ArgumentException($"task {task} has no items to evaluate", nameof(items));
        int label = 0, acc = 0, norm = 0;
        for (int i = 0; i < items.Count; i++)
        {
            MultipleChoiceItem item = items[i];
            ItemScores s = Score(model, item);
            if (ArgMax(s.LetterLogits) == item.Answer) label++;
            if (ArgMax(s.LogLikelihoods) == item.Answer) acc++;
            if (ArgMax(s.LogLikelihoods.Select((x, o) => x / item.ContinuationLengths[o]).ToArray()) == item.Answer) norm++;
            onItem?.Invoke(i + 1);
        }
        return new TaskAccuracy(task, items.Count, (double)label / items.Count, (double)acc / items.Count, (double)norm / items.Count);
    }

    /// <summary>Index of the largest value (first on ties).</summary>
    public static int ArgMax(double[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
