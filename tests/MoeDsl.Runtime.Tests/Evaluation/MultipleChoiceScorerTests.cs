using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Evaluation;

/// <summary>MultipleChoiceScorer against a naive reference: one unpadded forward per option, log-probabilities summed
/// token by token, and the letter logits read from a forward over the prompt alone.</summary>
public sealed class MultipleChoiceScorerTests
{
    private static readonly LlamaConfig Small = new(32, 48, 2, 4, 2, 40, 1e-5, 10000, TieWordEmbeddings: false);

    private static MultipleChoiceItem Item(Random rng, int answer)
    {
        long[] Ids(int n) => Enumerable.Range(0, n).Select(_ => (long)rng.Next(3, 40)).ToArray();
        long[] context = new long[] { 1 }.Concat(Ids(6)).ToArray();
        var continuations = new List<long[]> { Ids(1), Ids(4), Ids(2) };   // different lengths: padding must not matter
        return new MultipleChoiceItem("t", 1, answer, new long[] { 1 }.Concat(Ids(9)).ToArray(), new long[] { 5, 6, 7 },
            context, continuations, new[] { 3, 11, 6 });
    }

    private static (double[] Letters, double[] LogLikelihoods) Naive(MoeCausalLM model, MultipleChoiceItem item)
    {
        using var noGrad = no_grad();
        using var p = model.Forward(tensor(item.PromptIds).unsqueeze(0));
        double[] letters = item.LetterIds.Select(id => (double)p.Logits[0, -1, id].item<float>()).ToArray();
        var ll = new double[item.ContinuationIds.Count];
        for (int o = 0; o < ll.Length; o++)
        {
            long[] seq = item.ContextIds.Concat(item.ContinuationIds[o]).ToArray();
            using var f = model.Forward(tensor(seq).unsqueeze(0));
            for (int j = 0; j < item.ContinuationIds[o].Length; j++)
            {
                int position = item.ContextIds.Length - 1 + j;                  // logits at t predict token t + 1
                ll[o] += f.Logits[0, position].log_softmax(-1)[item.ContinuationIds[o][j]].item<float>();
            }
        }
        return (letters, ll);
    }

    [Fact]
    public void ScoresEqualTheNaiveReference()
    {
        using var model = PlainCausalLM.Create(Small);
        var rng = new Random(3);
        for (int i = 0; i < 5; i++)
        {
            MultipleChoiceItem item = Item(rng, 0);
            ItemScores s = MultipleChoiceScorer.Score(model, item);
            var (letters, ll) = Naive(model, item);
            for (int o = 0; o < 3; o++)
            {
                Assert.True(Math.Abs(s.LetterLogits[o] - letters[o]) < 1e-4, $"letter {o}: {s.LetterLogits[o]} vs {letters[o]}");
                Assert.True(Math.Abs(s.LogLikelihoods[o] - ll[o]) < 1e-4, $"option {o}: {s.LogLikelihoods[o]} vs {ll[o]}");
            }
        }
    }

    [Fact]
    public void AccuraciesCountWhatEachRuleChooses()
    {
        using var model = PlainCausalLM.Create(Small);
        var rng = new Random(9);
        var items = new List<MultipleChoiceItem>();
        int label = 0, acc = 0, norm = 0;
        for (int i = 0; i < 12; i++)
        {
            MultipleChoiceItem probe = Item(rng, 0);
            var (letters, ll) = Naive(model, probe);
            int answer = i % 3;                                                  // answers spread over the options
            MultipleChoiceItem item = probe with { Answer = answer };
            items.Add(item);
            if (MultipleChoiceScorer.ArgMax(letters) == answer) label++;
            if (MultipleChoiceScorer.ArgMax(ll) == answer) acc++;
            if (MultipleChoiceScorer.ArgMax(ll.Select((x, o) => x / item.ContinuationLengths[o]).ToArray()) == answer) norm++;
        }
        TaskAccuracy a = MultipleChoiceScorer.Evaluate(model, "t", items);
        Assert.Equal(12, a.Items);
        Assert.Equal(label / 12.0, a.LabelAccuracy, 12);
        Assert.Equal(acc / 12.0, a.Accuracy, 12);
        Assert.Equal(norm / 12.0, a.NormalizedAccuracy, 12);
    }

    [Fact]
    public void ArgMaxTakesTheFirstOfTies() => Assert.Equal(1, MultipleChoiceScorer.ArgMax(new[] { -1.0, 2.0, 2.0, 0.5 }));
}
