using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Routing;

/// <summary>Comparison helpers for the numerics tests: values and gradients of two computations to a tolerance.</summary>
internal static class Numerics
{
    /// <summary>The tolerance of every fused-vs-naive comparison (fp32): |diff| &lt;= 1e-5 * max(1, |expected|).</summary>
    public const double Tolerance = 1e-5;

    public static float[] Host(Tensor t) => t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();

    public static void AssertClose(Tensor expected, Tensor actual, string what, double tolerance = Tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        float[] e = Host(expected), a = Host(actual);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.Length; i++)
        {
            double d = Math.Abs(e[i] - a[i]) / Math.Max(1.0, Math.Abs(e[i]));   // absolute below 1, relative above
            if (double.IsNaN(d) || d > worst) { worst = double.IsNaN(d) ? double.PositiveInfinity : d; at = i; }
        }
        Assert.True(worst <= tolerance, $"{what}: max scaled |diff| {worst:G3} at {at} (expected {e[Math.Max(at, 0)]}, actual {a[Math.Max(at, 0)]})");
    }

    /// <summary>Asserts that <paramref name="fused"/> and <paramref name="naive"/> give the same tensor and the same
    /// gradients of <c>sum(out * R)</c> (R random) with respect to each of <paramref name="leaves"/>; returns the largest
    /// value and gradient differences. <paramref name="tolerance"/>: as <see cref="AssertClose"/>'s.</summary>
    public static (double Value, double Gradient) AssertSameValueAndGradients(Func<Tensor> fused, Func<Tensor> naive, IReadOnlyList<(string Name, Tensor Leaf)> leaves, long seed, double tolerance = Tolerance)
    {
        using var scope = NewDisposeScope();
        Tensor a = fused();
        Tensor b = naive();
        AssertClose(b, a, "value", tolerance);
        double valueDiff = (a - b).abs().max().item<float>();
        using var g = new Generator((ulong)seed);
        Tensor r = randn(a.shape, generator: g);
        var fusedGrads = Gradients(a, r, leaves);
        var naiveGrads = Gradients(b, r, leaves);
        double gradDiff = 0;
        for (int i = 0; i < leaves.Count; i++)
        {
            // An expert no token chose has no gradient; everything else must have one, or the test would not see it.
            if (!leaves[i].Name.Contains("experts."))
                Assert.True(naiveGrads[i].abs().sum().item<float>() > 0, $"gradient of {leaves[i].Name} is zero in the naive reference: the test would not see it");
            AssertClose(naiveGrads[i], fusedGrads[i], $"d/d {leaves[i].Name}", tolerance);
            gradDiff = Math.Max(gradDiff, (naiveGrads[i] - fusedGrads[i]).abs().max().item<float>());
        }
        var expertLeaves = Enumerable.Range(0, leaves.Count).Where(i => leaves[i].Name.Contains("experts.")).ToArray();
        if (expertLeaves.Length > 0)
            Assert.True(expertLeaves.Count(i => naiveGrads[i].abs().sum().item<float>() > 0) * 2 >= expertLeaves.Length,
                        "fewer than half of the expert tensors get a gradient: the case does not exercise the experts");
        return (valueDiff, gradDiff);
    }

    private static Tensor[] Gradients(Tensor output, Tensor r, IReadOnlyList<(string Name, Tensor Leaf)> leaves)
    {
        var grads = autograd.grad(new[] { (output * r).sum() }, leaves.Select(l => l.Leaf).ToArray(), retain_graph: true, allow_unused: true);
        return grads.Select((gr, i) => gr is null || gr.IsInvalid ? zeros_like(leaves[i].Leaf) : gr).ToArray();
    }

    /// <summary>Overwrites a tensor with N(0, std) drawn from <paramref name="g"/>.</summary>
    public static void Randomise(Tensor t, double std, Generator g)
    {
        using var _ = no_grad();
        using Tensor v = randn(t.shape, generator: g) * std;
        t.copy_(v);
    }

    public static Tensor Set(Tensor t, params float[] values)
    {
        using var _ = no_grad();
        using Tensor v = tensor(values).reshape(t.shape);
        t.copy_(v);
        return t;
    }
}
