using System.Collections.Generic;
using MoeDsl.Runtime.Losses;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Losses;

/// <summary>The next-token loss against a loop over (sequence, position) pairs written from its definition.</summary>
public sealed class LanguageModelLossTests
{
    [Fact]
    public void MeanOfNextTokenNegativeLogLikelihoodsSkippingIgnoredLabels()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        const int b = 3, l = 6, v = 11;
        Tensor logits = randn(new long[] { b, l, v }, generator: g, dtype: ScalarType.Float64).requires_grad_(true);
        long[,] labels =
        {
            { 1, 2, 3, 4, 5, 6 },
            { -100, -100, 7, 8, -100, 9 },
            { 0, 10, -100, -100, -100, -100 },   // only position 0 is scored (label 10)
        };
        Tensor labelTensor = zeros(new long[] { b, l }, ScalarType.Int64);
        for (int i = 0; i < b; i++)
            for (int t = 0; t < l; t++) labelTensor[i, t] = labels[i, t];

        // Naive: for every position t < l - 1 whose next label is not ignored, -log softmax(logits[i, t])[label[i, t + 1]].
        var terms = new List<Tensor>();
        for (int i = 0; i < b; i++)
            for (int t = 0; t < l - 1; t++)
            {
                long next = labels[i, t + 1];
                if (next == LanguageModelLoss.IgnoreIndex) continue;
                Tensor row = logits[i, t];
                terms.Add(-(row[next] - row.exp().sum().log()));
            }
        Tensor expected = stack(terms.ToArray()).mean();
        Tensor actual = LanguageModelLoss.Compute(logits, labelTensor);
        Assert.Equal(ScalarType.Float32, actual.dtype);   // computed in fp32 whatever the logits' dtype
        Assert.Equal(expected.item<double>(), actual.item<float>(), 5);

        Tensor gradExpected = autograd.grad(new[] { expected }, new[] { logits }, retain_graph: true)[0];
        Tensor gradActual = autograd.grad(new[] { actual }, new[] { logits })[0];
        Assert.True(gradActual.allclose(gradExpected, rtol: 0, atol: 1e-7), $"max diff {(gradActual - gradExpected).abs().max().item<double>()}");
        // The last position of every row is never scored.
        Assert.Equal(0.0, gradActual.select(1, l - 1).abs().sum().item<double>());
    }
}
