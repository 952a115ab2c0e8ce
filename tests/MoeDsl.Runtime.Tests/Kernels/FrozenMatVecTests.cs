using System;
using MoeDsl.Runtime.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Kernels;

/// <summary><see cref="FrozenMatVec"/> against a naive triple loop in double precision: fp32 and bf16 weights, with and
/// without bias, 1 to <see cref="FrozenMatVec.MaxRows"/> rows, widths that are and are not multiples of the vector width;
/// and <see cref="FrozenMatVec.Covers"/> sends everything else (a gradient to record, more rows) to libtorch.</summary>
[Collection(nameof(SerialTests))]
public sealed class FrozenMatVecTests
{
    private static double[] Naive(float[] x, float[] w, float[]? b, int m, int n, int k)
    {
        var y = new double[m * n];
        for (int r = 0; r < m; r++)
            for (int o = 0; o < n; o++)
            {
                double sum = b is null ? 0 : b[o];
                for (int i = 0; i < k; i++) sum += (double)x[r * k + i] * w[o * k + i];
                y[r * n + o] = sum;
            }
        return y;
    }

    [SkippableTheory]
    [InlineData(1, 67, 768, false)]
    [InlineData(3, 200, 37, true)]
    [InlineData(8, 131, 40, true)]
    [InlineData(5, 1, 5, false)]
    public void Fp32_equals_a_naive_loop(int m, int n, int k, bool withBias)
    {
        Skip.IfNot(ExpertKernels.Accelerated, "no AVX2+FMA: the kernel is not used on this CPU");
        manual_seed(11);
        using Tensor x = randn(1, m, k), w = randn(n, k), b = randn(n);
        Assert.True(FrozenMatVec.Covers(x, w, withBias ? b : null));
        using Tensor y = FrozenMatVec.Linear(x, w, withBias ? b : null);
        Assert.Equal(new long[] { 1, m, n }, y.shape);
        double[] expected = Naive(x.data<float>().ToArray(), w.data<float>().ToArray(), withBias ? b.data<float>().ToArray() : null, m, n, k);
        float[] got = y.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-5 * (1 + Math.Sqrt(k)), $"element {i}: {got[i]} vs {expected[i]}");
    }

    [SkippableTheory]
    [InlineData(1, 96, 768)]
    [InlineData(4, 33, 70)]
    public void Bf16_equals_a_naive_loop_rounded_to_bf16(int m, int n, int k)
    {
        Skip.IfNot(ExpertKernels.Accelerated, "no AVX2+FMA: the kernel is not used on this CPU");
        manual_seed(12);
        using Tensor x = randn(m, k).to(ScalarType.BFloat16), w = randn(n, k).to(ScalarType.BFloat16), b = randn(n).to(ScalarType.BFloat16);
        Assert.True(FrozenMatVec.Covers(x, w, b));
        using Tensor y = FrozenMatVec.Linear(x, w, b);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        double[] expected = Naive(x.to(ScalarType.Float32).data<float>().ToArray(), w.to(ScalarType.Float32).data<float>().ToArray(),
            b.to(ScalarType.Float32).data<float>().ToArray(), m, n, k);
        float[] got = y.to(ScalarType.Float32).data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            // bf16 keeps 8 significant bits: the result is the exact sum rounded once (a different fp32 summation order
            // can move it across a rounding boundary, so one bf16 step is allowed).
            double ulp = Math.Pow(2, Math.Floor(Math.Log2(Math.Max(Math.Abs(expected[i]), 1e-30))) - 7);
            Assert.True(Math.Abs(got[i] - expected[i]) <= ulp * 1.01, $"element {i}: {got[i]} vs {expected[i]} (bf16 step {ulp})");
        }
    }

    [Fact]
    public void Recorded_gradients_and_larger_batches_go_to_libtorch()
    {
        using Tensor w = randn(16, 8), x = randn(2, 8);
        using Tensor xg = randn(2, 8).requires_grad_(true);
        Assert.False(FrozenMatVec.Covers(xg, w, null)); // autograd must see the product
        using (no_grad()) Assert.Equal(ExpertKernels.Accelerated, FrozenMatVec.Covers(xg, w, null));
        using Tensor many = randn(FrozenMatVec.MaxRows + 1, 8);
        Assert.False(FrozenMatVec.Covers(many, w, null));
        using Tensor wg = randn(16, 8).requires_grad_(true);
        Assert.False(FrozenMatVec.Covers(x, wg, null)); // a trained weight is not frozen
        using Tensor y = FrozenMatVec.Linear(xg, w);
        Assert.True(y.requires_grad);
        using Tensor expected = nn.functional.linear(xg, w);
        Assert.True(y.allclose(expected));
    }
}
