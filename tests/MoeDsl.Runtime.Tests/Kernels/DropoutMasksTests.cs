using System;
using System.Linq;
using MoeDsl.Runtime.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Kernels;

/// <summary>The counter-based dropout masks: keep rate, scaling, independence, determinism under torch's seed, and the
/// generator itself against SplitMix64's published reference outputs.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator
public sealed class DropoutMasksTests
{
    /// <summary>SplitMix64 (Steele, Lea, Flood 2014; Vigna's splitmix64.c) seeded with 1234567 gives these first outputs;
    /// <see cref="DropoutMasks.Draw"/>(seed, i) is the upper half of output i + 1 of the stream whose state starts at seed.</summary>
    [Fact]
    public void DrawIsSplitMix64()
    {
        // Reference outputs of splitmix64.c's next() from x = 1234567 (computed independently with Python integers:
        // x += 0x9E3779B97F4A7C15; z = (x ^ x >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31).
        ulong[] expected = { 6457827717110365317UL, 3203168211198807973UL, 9817491932198370423UL, 4593380528125082431UL, 16408922859458223821UL };
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal((uint)(expected[i] >> 32), DropoutMasks.Draw(1234567UL, i));
    }

    /// <summary>The vectorised fill (8 and 32 elements at a time, chunked over threads) equals the scalar definition element
    /// by element, for float and bool masks, with a length that leaves scalar tails.</summary>
    [Fact]
    public void VectorFillEqualsTheScalarDefinition()
    {
        const int n = 10_007;
        const ulong seed = 0xDEADBEEF12345UL;
        const double p = 0.3;
        uint threshold = (uint)Math.Round(p * 4294967296.0);
        using var scope = NewDisposeScope();
        Tensor floats = empty(n), bools = empty(new long[] { n }, ScalarType.Bool);
        DropoutMasks.Fill(floats, p, 2.5f, seed);
        DropoutMasks.Fill(bools, p, null, seed);
        float[] f = floats.data<float>().ToArray();
        bool[] b = bools.data<bool>().ToArray();
        for (int i = 0; i < n; i++)
        {
            bool kept = DropoutMasks.Draw(seed, i) >= threshold;
            Assert.Equal(kept ? 2.5f : 0f, f[i]);
            Assert.Equal(kept, b[i]);
        }
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void KeepRateIsOneMinusPWithinFourSigma(double p)
    {
        const long n = 1_000_003;   // not a multiple of the 4,096-element chunks
        using var scope = NewDisposeScope();
        Tensor keep = DropoutMasks.Keep(new[] { n }, p, CPU);
        Assert.Equal(ScalarType.Bool, keep.dtype);
        double rate = keep.to(ScalarType.Float64).mean().item<double>();
        double sigma = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange(rate, 1 - p - 4 * sigma, 1 - p + 4 * sigma);
        // Neighbouring elements are independent: the rate of "both kept" is (1 - p)^2.
        bool[] k = keep.data<bool>().ToArray();
        double both = Enumerable.Range(0, (int)n - 1).Count(i => k[i] && k[i + 1]) / (double)(n - 1);
        Assert.InRange(both, (1 - p) * (1 - p) - 5 * sigma, (1 - p) * (1 - p) + 5 * sigma);
    }

    [Fact]
    public void ApplyZeroesOrScalesEachElementAndKeepsTheExpectation()
    {
        using var scope = NewDisposeScope();
        Tensor x = ones(512, 1024);
        Tensor y = DropoutMasks.Apply(x, 0.25, training: true);
        float[] v = y.data<float>().ToArray();
        Assert.All(v, e => Assert.True(e == 0f || Math.Abs(e - 1f / 0.75f) < 1e-6, $"element {e} is neither 0 nor 1/(1-p)"));
        Assert.InRange(y.mean().item<float>(), 0.99f, 1.01f);
        // The gradient is the same mask: d sum(y) / dx = y for x = 1.
        Tensor xg = ones(64, 64).requires_grad_(true);
        Tensor yg = DropoutMasks.Apply(xg, 0.25, training: true);
        yg.sum().backward();
        Assert.True(xg.grad!.eq(yg.detach()).all().item<bool>());
    }

    [Fact]
    public void EvalModeAndZeroProbabilityAreTheIdentity()
    {
        using var scope = NewDisposeScope();
        Tensor x = randn(8, 8);
        Assert.Same(x, DropoutMasks.Apply(x, 0.3, training: false));
        Assert.Same(x, DropoutMasks.Apply(x, 0, training: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutMasks.Apply(x, 1.0, training: true));
    }

    [Fact]
    public void TorchSeedFixesTheMasksAndTheThreadCountDoesNot()
    {
        using var scope = NewDisposeScope();
        int before = ExpertKernels.Workers;
        try
        {
            manual_seed(11);
            ExpertKernels.Workers = 1;
            Tensor a = DropoutMasks.Keep(new long[] { 300, 1000 }, 0.3, CPU);
            Tensor a2 = DropoutMasks.Keep(new long[] { 300, 1000 }, 0.3, CPU);
            manual_seed(11);
            ExpertKernels.Workers = 2;
            Tensor b = DropoutMasks.Keep(new long[] { 300, 1000 }, 0.3, CPU);
            Assert.True(a.eq(b).all().item<bool>(), "the same seed drew different masks on 1 and 2 threads");
            Assert.False(a.eq(a2).all().item<bool>(), "two calls drew the same mask");
        }
        finally
        {
            ExpertKernels.Workers = before;
        }
    }
}
