using System;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Tests.Routing;
using System.Collections.Generic;
using System.Linq;
using Xunit;
using static TorchSharp.torch;
using MoeDsl.Runtime.Experts;
using MoeDsl.Runtime.Experts.Execution;

namespace MoeDsl.Runtime.Tests.Experts;

public sealed class ExpertExecutionTests
{
    /// <summary>Grouped and dense-masked execution compute one function: outputs and gradients agree, and both match a
    /// per-token loop over the chosen experts written here with the MixLoRA formula.</summary>
    [Fact]
    public void GroupedDenseMaskedAndPerTokenLoopAgree()
    {
        manual_seed(21);
        int d = 12, inter = 20, experts = 4, rank = 3;
        var ffn = new MoeFeedForward(d, inter, experts, new LoraSettings(rank, 6, 0), new TopKRouter(d, experts, 2), new RoutingRecorder { Enabled = false }, 0);
        using (no_grad())
            foreach (var (_, p) in ffn.named_parameters()) if (p.requires_grad) nn.init.normal_(p, 0, 0.3);
        ffn.train();
        using Tensor x = randn(2, 5, d);

        (Tensor Y, Tensor GradA) Run(ExpertExecution mode)
        {
            ffn.Execution = mode;
            ffn.zero_grad();
            Tensor y = ffn.forward(x);
            (y * y).sum().backward();
            return (y.detach(), ffn.DownProj.Experts.A.grad![1].clone());
        }
        var (yDense, gDense) = Run(ExpertExecution.DenseMasked);
        var (yGrouped, gGrouped) = Run(ExpertExecution.Grouped);
        var (yFused, gFused) = Run(ExpertExecution.Fused);
        Assert.True((yDense - yGrouped).abs().max().item<float>() < 1e-5f);
        Assert.True((gDense - gGrouped).abs().max().item<float>() < 1e-4f);
        Assert.True((yDense - yFused).abs().max().item<float>() < 1e-5f);
        Assert.True((gDense - gFused).abs().max().item<float>() < 1e-4f);
        Assert.True(gDense.abs().max().item<float>() > 0, "expert 1's down A got no gradient: the test routes nothing to it");

        // Per token: sum over its top-2 experts of w_j (W_d + s B_d A_d) silu((W_g + s B_g A_g) x) * ((W_u + s B_u A_u) x).
        using var _ = no_grad();
        RoutingDecision decision = ffn.Router.forward(x);
        Tensor xt = x.reshape(10, d);
        double s = 6.0 / rank;
        Tensor Full(SharedExpertProjection p, int e) => p.Weight + s * p.Experts.ExpertB(e).matmul(p.Experts.ExpertA(e));
        for (int t = 0; t < 10; t++)
        {
            Tensor expected = zeros(d);
            for (int j = 0; j < 2; j++)
            {
                int e = (int)decision.Experts[t, j].item<long>();
                float w = decision.Weights[t, j].item<float>();
                Tensor h = nn.functional.silu(Full(ffn.GateProj, e).matmul(xt[t])) * Full(ffn.UpProj, e).matmul(xt[t]);
                expected = expected + w * Full(ffn.DownProj, e).matmul(h);
            }
            Assert.True((yDense.reshape(10, d)[t] - expected).abs().max().item<float>() < 1e-4f, $"token {t}");
        }
    }

    /// <summary>The fused function with LoRA dropout on, through the CPU kernels and through TorchSharp ops (the path
    /// other devices take): given keep-masks, its output and the gradients of x, every stacked
    /// adapter and the routing weights equal a per-(token, slot) autograd reference that applies the same masks
    /// (x~g = x m_g / (1-p) into the gate LoRA and x~u = x m_u / (1-p) into the up LoRA, each pair its own, h~ = h m_h / (1-p)
    /// into the down LoRA). Widths and ranks reach every loop of the kernels: 45 = 32 + 8 + 5 columns, rank 9 = one
    /// block of eight rank rows and one row alone (2r = 18: two blocks and two rows); without dropout (no masks given,
    /// none drawn) the reference keeps every element.</summary>
    [Theory]
    [InlineData(true, 6, 2, true)]
    [InlineData(false, 6, 2, true)]
    [InlineData(true, 45, 9, true)]
    [InlineData(true, 45, 9, false)]
    [InlineData(false, 45, 9, false)]
    public void FusedWithDropoutMasksEqualsPerPairReference(bool cpuKernels, int d, int r, bool dropout)
    {
        using var scope = NewDisposeScope();
        // Expert 2 chosen by no token: its gradients must be exactly zero.
        Tensor experts = tensor(new long[] { 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1 }).reshape(7, 2);
        CheckFusedAgainstPerPairReference(cpuKernels, d, inter: 45, r, e: 3, experts, dropout);
    }

    /// <summary>The CPU kernels' tiled rank-r loops (four pairs of one expert at a time, in 64- and 16-column vector blocks
    /// and a scalar tail) at widths that take every block, ranks that are not a multiple of the four-row blocks, and
    /// random top-2 choices of 4 experts over 13 tokens, so tiles of one to four pairs end at segment and task edges.</summary>
    [Theory]
    [InlineData(48, 144, 6, true)]
    [InlineData(32, 93, 5, false)]
    [InlineData(64, 208, 16, true)]
    public void FusedKernelsAtWideWidthsEqualPerPairReference(int d, int inter, int r, bool dropout)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(71);
        const int t = 13, e = 4;
        Tensor experts = stack(Enumerable.Range(0, t).Select(_ => randperm(e, generator: g).narrow(0, 0, 2)).ToArray());
        CheckFusedAgainstPerPairReference(true, d, inter, r, e, experts, dropout);
    }

    /// <summary>FusedExpertFeedForward on <paramref name="experts"/> [T, 2] against a per-pair loop written here with the
    /// MixLoRA formula (values and every gradient); experts no token chose get exactly zero gradients.</summary>
    private static void CheckFusedAgainstPerPairReference(bool cpuKernels, int d, int inter, int r, int e, Tensor experts, bool dropout)
    {
        using var g = new Generator(33);
        long t = experts.shape[0], k = experts.shape[1];
        double p = dropout ? 0.3 : 0, s = 1.5;
        // Weights that sum over d, r or inter inputs shrink with them (as an initialisation would), so values stay O(1) and
        // the fp32 tolerance means the same at every width; d = 6, r = 2, inter = 45 keep the original scales. Sums over
        // wider rows round more: the tolerance grows with the square root of the width past 45.
        double perD = Math.Sqrt(6.0 / d), perR = Math.Sqrt(2.0 / r), perI = Math.Sqrt(45.0 / inter);
        Tensor Leaf(double scale, params long[] shape) => (randn(shape, generator: g) * scale).requires_grad_(true);
        Tensor x = Leaf(0.5, t, d);
        Tensor wg = randn(new long[] { inter, d }, generator: g) * (0.4 * perD), wu = randn(new long[] { inter, d }, generator: g) * (0.4 * perD), wd = randn(new long[] { d, inter }, generator: g) * (0.4 * perI);
        Tensor gateUpA = Leaf(0.5 * perD, e * 2 * r, d), gateB = Leaf(0.5 * perR, e, inter, r), upB = Leaf(0.5 * perR, e, inter, r), downA = Leaf(0.5 * perI, e * r, inter), downB = Leaf(0.5 * perR, e, d, r);
        Tensor weights = rand(new long[] { t, k }, generator: g).requires_grad_(true);
        Tensor maskX = rand(new long[] { t * k, 2, d }, generator: g).ge(p);
        Tensor maskH = rand(new long[] { t * k, inter }, generator: g).ge(p);
        Tensor? givenX = dropout ? maskX : null, givenH = dropout ? maskH : null;
        var settings = new FusedExpertSettings(e, r, s, p, Training: true, CpuKernels: cpuKernels);

        // In double precision (gradients flow back through the casts), so the comparison sees the fused function's own
        // fp32 rounding only.
        static Tensor D(Tensor t) => t.to(ScalarType.Float64);
        Tensor Reference() => ReferenceOf(D(x), D(wg), D(wu), D(wd), D(gateUpA), D(gateB), D(upB), D(downA), D(downB), D(weights)).to(ScalarType.Float32);
        Tensor ReferenceOf(Tensor x, Tensor wg, Tensor wu, Tensor wd, Tensor gateUpA, Tensor gateB, Tensor upB, Tensor downA, Tensor downB, Tensor weights)
        {
            var rows = new Tensor[t];
            for (int i = 0; i < t; i++)
            {
                Tensor y = zeros(d, dtype: ScalarType.Float64);
                for (int j = 0; j < k; j++)
                {
                    long ex = experts[i, j].item<long>();
                    Tensor aG = gateUpA[TensorIndex.Slice(ex * 2 * r, ex * 2 * r + r)], aU = gateUpA[TensorIndex.Slice(ex * 2 * r + r, ex * 2 * r + 2 * r)];
                    Tensor bG = gateB[ex], bU = upB[ex];
                    Tensor aD = downA[TensorIndex.Slice(ex * r, ex * r + r)], bD = downB[ex];
                    Tensor xg = x[i] * maskX[i * k + j, 0] / (1 - p), xu = x[i] * maskX[i * k + j, 1] / (1 - p);
                    Tensor gate = wg.matmul(x[i]) + s * bG.matmul(aG.matmul(xg));
                    Tensor up = wu.matmul(x[i]) + s * bU.matmul(aU.matmul(xu));
                    Tensor h = gate * gate.sigmoid() * up;
                    Tensor hd = h * maskH[i * k + j] / (1 - p);
                    y = y + weights[i, j] * (wd.matmul(h) + s * bD.matmul(aD.matmul(hd)));
                }
                rows[i] = y;
            }
            return stack(rows);
        }

        var leaves = new List<(string, Tensor)> { ("x", x), ("gateUpA", gateUpA), ("gateB", gateB), ("upB", upB), ("downA", downA), ("downB", downB), ("weights", weights) };
        Numerics.AssertSameValueAndGradients(
            () => FusedExpertFeedForward.Apply(x, wg, wu, wd, gateUpA, gateB, upB, downA, downB, weights, experts, settings, givenX, givenH),
            Reference, leaves, seed: 3, tolerance: Numerics.Tolerance * Math.Max(1, Math.Sqrt(inter / 45.0)));

        // Unused experts' blocks get zero gradients (not garbage from uninitialised memory).
        Tensor y = FusedExpertFeedForward.Apply(x, wg, wu, wd, gateUpA, gateB, upB, downA, downB, weights, experts, settings, givenX, givenH);
        foreach (var (_, leaf) in leaves) leaf.grad?.zero_();
        y.sum().backward();
        long[] chosen = experts.reshape(-1).data<long>().ToArray();
        foreach (int unused in Enumerable.Range(0, e).Where(i => !chosen.Contains(i)))
        {
            Assert.Equal(0f, gateB.grad![unused].abs().max().item<float>());
            Assert.Equal(0f, downA.grad![TensorIndex.Slice(unused * r, (unused + 1) * r)].abs().max().item<float>());
            Assert.Equal(0f, upB.grad![unused].abs().max().item<float>());
            Assert.Equal(0f, downB.grad![unused].abs().max().item<float>());
            Assert.Equal(0f, gateUpA.grad![TensorIndex.Slice(unused * 2 * r, (unused + 1) * 2 * r)].abs().max().item<float>());
        }
        Assert.True(gateB.grad!.abs().max().item<float>() > 0);
    }

    /// <summary>The pairs' sort by expert: the host counting sort (CPU) and the tensor-op sort (other devices) give the
    /// same stable order, tokens, rows, positions and segment sizes as a plain stable sort written here.</summary>
    [Fact]
    public void PairSortOnHostEqualsTheTensorSortAndAStableSort()
    {
        const int t = 9, k = 3, e = 5;
        using Tensor experts = tensor(new long[] { 4, 0, 2, 1, 4, 0, 0, 2, 3, 2, 1, 4, 4, 3, 0, 1, 0, 2, 0, 1, 2, 2, 4, 1, 3, 0, 4 }).reshape(t, k);
        long[] ids = experts.reshape(-1).data<long>().ToArray();
        long[] expectedOrder = Enumerable.Range(0, ids.Length).Select(i => (long)i).OrderBy(i => ids[i]).ToArray();   // OrderBy is stable
        var host = FusedExpertFeedForward.SortPairsOnHost(experts, e);
        var ops = FusedExpertFeedForward.SortPairs(experts, e);
        foreach (var (order, token, row, at, counts) in new[] { host, ops })
        {
            Assert.Equal(expectedOrder, order.data<long>().ToArray());
            Assert.Equal(expectedOrder.Select(q => q / k).ToArray(), token.data<long>().ToArray());
            Assert.Equal(expectedOrder.Select(q => q / k * e + ids[q]).ToArray(), row.data<long>().ToArray());
            long[] position = at.data<long>().ToArray();
            for (int p = 0; p < expectedOrder.Length; p++) Assert.Equal(p, position[expectedOrder[p]]);
            Assert.Equal(Enumerable.Range(0, e).Select(x => (long)ids.Count(id => id == x)).ToArray(), counts);
        }
        Assert.Throws<ArgumentException>(() => FusedExpertFeedForward.SortPairsOnHost(experts, 4));
    }
}
