using System;
using MoeDsl.Runtime.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Kernels;

/// <summary><see cref="WideGemm"/> against naive loops in double precision — shapes with edge tiles (rows not a
/// multiple of 6, columns not a multiple of 64), depths over one packed panel and not a multiple of the vector width — and
/// <see cref="WideLinear"/>: through <see cref="FrozenMatVec.Linear"/> the input gradient and nothing for the frozen
/// weight; with a trained weight its gradient as well.</summary>
[Collection(nameof(SerialTests))]
public sealed class WideGemmTests
{
    /// <summary>y[r, o] = sum_i x[r, i] w[o, i] (transposeW) or sum_i x[r, i] w[i, o].</summary>
    private static double[] Naive(float[] x, float[] w, int m, int n, int k, bool transposeW)
    {
        var y = new double[m * n];
        for (int r = 0; r < m; r++)
            for (int o = 0; o < n; o++)
            {
                double sum = 0;
                for (int i = 0; i < k; i++) sum += (double)x[r * k + i] * (transposeW ? w[o * k + i] : w[i * n + o]);
                y[r * n + o] = sum;
            }
        return y;
    }

    private static void AssertClose(double[] expected, Tensor got, int k)
    {
        float[] values = got.data<float>().ToArray();
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(values[i] - expected[i]) <= 1e-5 * (1 + Math.Sqrt(k)), $"element {i}: {values[i]} vs {expected[i]}");
    }

    [SkippableTheory]
    [InlineData(6, 64, 256)]      // one full tile, one full panel
    [InlineData(13, 70, 300)]     // edge rows and columns, a second panel of 44
    [InlineData(7, 130, 33)]      // depth not a multiple of 16
    [InlineData(64, 200, 520)]
    [InlineData(1, 5, 3)]
    [InlineData(100, 100, 64)]    // 200 rows, 2 panels: blocks of rows (54, 54, 54, 38 at 2 threads)
    [InlineData(35, 100, 600)]    // 70 rows, deeper than tall, 2 panels: slices of the depth (512 + 88 at 2 threads)
    public void Linear_and_input_gradient_equal_naive_loops(int m, int n, int k)
    {
        Skip.IfNot(WideGemm.Available, "no AVX-512 (or MOEDSL_WIDE_GEMM=torch): the GEMM is not used here");
        manual_seed(21);
        using Tensor x = randn(2, m, k), w = randn(n, k), dy = randn(2, m, n);
        ForEachThreadCount(() =>
        {
            using Tensor y = WideGemm.Linear(x, w);
            Assert.Equal(new long[] { 2, m, n }, y.shape);
            AssertClose(Naive(x.data<float>().ToArray(), w.data<float>().ToArray(), 2 * m, n, k, transposeW: true), y, k);
            using Tensor dx = WideGemm.InputGradient(dy, w);
            Assert.Equal(new long[] { 2, m, k }, dx.shape);
            AssertClose(Naive(dy.data<float>().ToArray(), w.data<float>().ToArray(), 2 * m, k, n, transposeW: false), dx, n);
        });
    }

    /// <summary>Runs <paramref name="check"/> with the kernels on 1, 2 and 3 threads: how a product is shared (panels of
    /// columns, blocks of rows, slices of the depth) depends on the count.</summary>
    private static void ForEachThreadCount(Action check)
    {
        int before = ExpertKernels.Workers;
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                ExpertKernels.Workers = threads;
                check();
            }
        }
        finally
        {
            ExpertKernels.Workers = before;
        }
    }

    [SkippableTheory]
    [InlineData(70, 260, 256)]    // tokens x out x in: edge rows (260 = 43 tiles of 6 + 2), four full panels
    [InlineData(300, 20, 130)]    // more tokens than one panel's depth (256), out and in not multiples of 6 / 64
    [InlineData(1100, 20, 130)]   // slices of the depth: 768 + 332 tokens at 2 threads, 512 + 512 + 76 at 3
    public void Weight_gradient_equals_a_naive_loop(int tokens, int outFeatures, int inFeatures)
    {
        Skip.IfNot(WideGemm.Available, "no AVX-512 (or MOEDSL_WIDE_GEMM=torch): the GEMM is not used here");
        manual_seed(23);
        using Tensor dy = randn(tokens, outFeatures), x = randn(tokens, inFeatures);
        ForEachThreadCount(() => CheckWeightGradient(dy, x, tokens, outFeatures, inFeatures));
    }

    private static void CheckWeightGradient(Tensor dy, Tensor x, int tokens, int outFeatures, int inFeatures)
    {
        using Tensor dw = WideGemm.WeightGradient(dy, x);
        Assert.Equal(new long[] { outFeatures, inFeatures }, dw.shape);
        float[] d = dy.data<float>().ToArray(), xs = x.data<float>().ToArray();
        var expected = new double[outFeatures * inFeatures];
        for (int o = 0; o < outFeatures; o++)
            for (int i = 0; i < inFeatures; i++)
            {
                double sum = 0;
                for (int t = 0; t < tokens; t++) sum += (double)d[t * outFeatures + o] * xs[t * inFeatures + i];
                expected[o * inFeatures + i] = sum;
            }
        AssertClose(expected, dw, tokens);
    }

    [SkippableFact]
    public void Trained_weight_gets_the_same_gradients_as_libtorch()
    {
        Skip.IfNot(WideGemm.Available, "no AVX-512 (or MOEDSL_WIDE_GEMM=torch): the GEMM is not used here");
        manual_seed(24);
        using Tensor w = randn(128, 512).requires_grad_(true), x = randn(2, 128, 512).requires_grad_(true), upstream = randn(2, 128, 128);
        using Tensor wRef = w.detach().clone().requires_grad_(true), xRef = x.detach().clone().requires_grad_(true);
        Assert.True(WideGemm.Covers(x, w));
        using Tensor y = WideLinear.Linear(x, w), yRef = nn.functional.linear(xRef, wRef);
        Assert.True(y.allclose(yRef, rtol: 1e-5, atol: 1e-4));
        (y * upstream).sum().backward();
        (yRef * upstream).sum().backward();
        Assert.True(x.grad!.allclose(xRef.grad!, rtol: 1e-5, atol: 1e-4));
        Assert.True(w.grad!.allclose(wRef.grad!, rtol: 1e-5, atol: 1e-3));
    }

    /// <summary>A trained bias on a frozen weight gets the column sums of the upstream gradient (checked against a loop).</summary>
    [SkippableFact]
    public void Trained_bias_gets_the_column_sums_of_the_upstream_gradient()
    {
        Skip.IfNot(WideGemm.Available, "no AVX-512 (or MOEDSL_WIDE_GEMM=torch): the GEMM is not used here");
        manual_seed(25);
        const int m = 40, k = 256, n = 520;
        using Tensor w = randn(n, k), b = randn(n).requires_grad_(true), x = randn(m, k), upstream = randn(m, n);
        Assert.True(WideGemm.Covers(x, w));
        using Tensor y = WideLinear.Apply(x, w, b);
        (y * upstream).sum().backward();
        float[] up = upstream.data<float>().ToArray(), got = b.grad!.data<float>().ToArray();
        Assert.Equal(n, got.Length);
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int i = 0; i < m; i++) sum += up[i * n + j];
            Assert.True(Math.Abs(sum - got[j]) <= 1e-4 * Math.Max(1, Math.Abs(sum)), $"bias gradient {j}: {got[j]} against {sum}");
        }
    }

    [SkippableFact]
    public void Frozen_projection_records_the_input_gradient_only()
    {
        Skip.IfNot(WideGemm.Available, "no AVX-512 (or MOEDSL_WIDE_GEMM=torch): the GEMM is not used here");
        manual_seed(22);
        const int m = 70, k = 256, n = 260;
        using Tensor w = randn(n, k), b = randn(n), x = randn(m, k).requires_grad_(true), upstream = randn(m, n);
        Assert.True(WideGemm.Covers(x, w));
        using Tensor y = FrozenMatVec.Linear(x, w, b);
        Assert.True(y.requires_grad);
        double[] expected = Naive(x.detach().data<float>().ToArray(), w.data<float>().ToArray(), m, n, k, transposeW: true);
        float[] bias = b.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++) expected[i] += bias[i % n];
        AssertClose(expected, y.detach(), k);
        (y * upstream).sum().backward();
        AssertClose(Naive(upstream.data<float>().ToArray(), w.data<float>().ToArray(), m, k, n, transposeW: false), x.grad!, n);
        Assert.Null(w.grad);
    }

    [Fact]
    public void Small_products_and_other_dtypes_stay_with_libtorch()
    {
        using Tensor w = randn(64, 64), x = randn(16, 64);
        Assert.False(WideGemm.Covers(x, w));                                      // 65K multiply-adds
        using Tensor big = randn(512, 512), bigW = randn(512, 512), bigBf16 = big.to(ScalarType.BFloat16), bigWBf16 = bigW.to(ScalarType.BFloat16);
        Assert.False(WideGemm.Covers(bigBf16, bigWBf16));
        Assert.Equal(WideGemm.Available, WideGemm.Covers(big, bigW));
        using Tensor fewRows = randn(5, 512), head = randn(4096, 512);
        Assert.False(WideGemm.Covers(fewRows, head));                              // fewer rows than a tile
    }
}
