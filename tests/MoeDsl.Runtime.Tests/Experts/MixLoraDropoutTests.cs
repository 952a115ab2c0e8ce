using System;
using System.Linq;
using MoeDsl.Runtime.Experts;
using MoeDsl.Runtime.Experts.Execution;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Experts;

/// <summary>MixLoRA's LoRA dropout as MoE-PEFT applies it: one keep-mask per (token, expert) pair and projection.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator: the same seed must give the same draws
public sealed class MixLoraDropoutTests
{
    private const int D = 6, Inter = 10, Experts = 4, Rank = 2, Tokens = 5, K = 2;
    private const double P = 0.4;

    private static MoeFeedForward Layer(double dropout, long seed)
    {
        manual_seed(seed);
        var ffn = new MoeFeedForward(D, Inter, Experts, new LoraSettings(Rank, 4, dropout), new TopKRouter(D, Experts, K), new RoutingRecorder { Enabled = false }, 0);
        using (no_grad())
            foreach (var (_, p) in ffn.named_parameters()) nn.init.normal_(p, 0, 0.4);   // frozen weights too
        return ffn;
    }

    /// <summary>The masks of one forward: shapes [T*k, 2, d] and [T*k, I]; keep rate 1 - p; the gate and up masks of a
    /// pair, and the two slots (experts) of a token, agree as often as independent draws do (p^2 + (1-p)^2), not always.</summary>
    [Fact]
    public void MasksAreIndependentPerPairAndProjection()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        const long t = 4096, k = 2, d = 32, inter = 48;
        var masks = MixLoraDropout.Draw(t, k, d, inter, 0.3, CPU);
        Assert.Equal(new[] { t * k, 2, d }, masks.GateUp.shape);
        Assert.Equal(new[] { t * k, inter }, masks.Hidden.shape);
        Assert.Equal(ScalarType.Bool, masks.GateUp.dtype);
        double Rate(Tensor keep) => keep.to(ScalarType.Float64).mean().item<double>();
        Assert.InRange(Rate(masks.GateUp), 0.695, 0.705);     // n = 262,144: sd 0.0009
        Assert.InRange(Rate(masks.Hidden), 0.695, 0.705);
        const double independent = 0.3 * 0.3 + 0.7 * 0.7;    // 0.58
        Tensor gate = masks.GateUp.select(1, 0), up = masks.GateUp.select(1, 1);
        Assert.InRange(Rate(gate.eq(up)), independent - 0.005, independent + 0.005);
        Tensor bySlot = gate.view(t, k, d);
        Assert.InRange(Rate(bySlot.select(1, 0).eq(bySlot.select(1, 1))), independent - 0.005, independent + 0.005);
    }

    /// <summary>All three executions, same seed: the same output and gradients, equal to a per-(token, slot) loop that
    /// applies the masks <see cref="MixLoraDropout.Draw"/> gives for that seed (gate, up and down each their own).</summary>
    [Fact]
    public void TheThreeExecutionsDrawTheSameMasksAndMatchAPerPairLoop()
    {
        using var scope = NewDisposeScope();
        using MoeFeedForward ffn = Layer(P, seed: 8);
        ffn.train();
        Tensor x = randn(1, Tokens, D);
        (Tensor Y, Tensor Grad) Run(ExpertExecution mode)
        {
            ffn.Execution = mode;
            ffn.zero_grad();
            manual_seed(99);
            Tensor y = ffn.forward(x);
            (y * y).sum().backward();
            return (y.detach().reshape(Tokens, D), ffn.GateProj.Experts.A.grad!.sum(dim: 0));
        }
        var (dense, gDense) = Run(ExpertExecution.DenseMasked);
        var (grouped, gGrouped) = Run(ExpertExecution.Grouped);
        var (fused, gFused) = Run(ExpertExecution.Fused);
        Assert.True((dense - grouped).abs().max().item<float>() < 1e-5f, "grouped differs from dense-masked");
        Assert.True((dense - fused).abs().max().item<float>() < 1e-5f, "fused differs from dense-masked");
        float gScale = Math.Max(1f, gDense.abs().max().item<float>());
        Assert.True((gDense - gGrouped).abs().max().item<float>() < 1e-5f * gScale, $"grouped gradient differs by {(gDense - gGrouped).abs().max().item<float>()} (largest {gScale})");
        Assert.True((gDense - gFused).abs().max().item<float>() < 1e-5f * gScale, $"fused gradient differs by {(gDense - gFused).abs().max().item<float>()} (largest {gScale})");

        using var _ = no_grad();
        RoutingDecision decision = ffn.Router.forward(x);
        manual_seed(99);
        var masks = MixLoraDropout.Draw(Tokens, K, D, Inter, P, CPU);
        double s = 4.0 / Rank, keep = 1 / (1 - P);
        Tensor Delta(SharedExpertProjection proj, int e, Tensor input) => proj.Experts.ExpertB(e).matmul(proj.Experts.ExpertA(e).matmul(input)) * s;
        Tensor xt = x.reshape(Tokens, D);
        for (int t = 0; t < Tokens; t++)
        {
            Tensor expected = zeros(D);
            for (int j = 0; j < K; j++)
            {
                int e = (int)decision.Experts[t, j].item<long>();
                float w = decision.Weights[t, j].item<float>();
                Tensor gate = ffn.GateProj.Weight.matmul(xt[t]) + Delta(ffn.GateProj, e, xt[t] * masks.GateUp[t * K + j, 0] * keep);
                Tensor up = ffn.UpProj.Weight.matmul(xt[t]) + Delta(ffn.UpProj, e, xt[t] * masks.GateUp[t * K + j, 1] * keep);
                Tensor h = nn.functional.silu(gate) * up;
                expected = expected + w * (ffn.DownProj.Weight.matmul(h) + Delta(ffn.DownProj, e, h * masks.Hidden[t * K + j] * keep));
            }
            Assert.True((dense[t] - expected).abs().max().item<float>() < 1e-4f, $"token {t}");
        }
    }

    /// <summary>Dropout is unbiased for every LoRA input (E[m / (1-p)] = 1). The FFN is linear in the up and down masks and
    /// not in the gate's (the activation), so with the gate's LoRA B at zero the mean output over many draws is the
    /// no-dropout output: checked to 5 standard errors per element.</summary>
    [Fact]
    public void TheMeanOverDrawsIsTheNoDropoutOutput()
    {
        using var scope = NewDisposeScope();
        using MoeFeedForward ffn = Layer(P, seed: 9);
        using (no_grad()) ffn.GateProj.Experts.B.zero_();
        Tensor x = randn(1, Tokens, D);
        ffn.eval();
        Tensor exact;
        using (no_grad()) exact = ffn.forward(x);
        ffn.train();
        const int draws = 3000;
        Tensor sum = zeros_like(exact), squares = zeros_like(exact);
        manual_seed(4);
        using (no_grad())
            for (int i = 0; i < draws; i++)
            {
                using var step = NewDisposeScope();
                Tensor y = ffn.forward(x);
                sum.add_(y);
                squares.add_(y * y);
            }
        Tensor mean = sum / draws;
        Tensor standardError = (squares / draws - mean * mean).clamp_min(0).sqrt() / Math.Sqrt(draws);
        Assert.True(standardError.max().item<float>() > 0, "dropout changed nothing");
        Tensor z = (mean - exact).abs() / (standardError + 1e-7);
        Assert.True(z.max().item<float>() < 5, $"mean over {draws} draws is {z.max().item<float>():F1} standard errors from the no-dropout output");
    }

    /// <summary>Evaluation applies no dropout and draws nothing: bit-identical to the same layer declared without dropout,
    /// and the global generator is untouched.</summary>
    [Fact]
    public void EvalModeAppliesNoneAndDrawsNothing()
    {
        using var scope = NewDisposeScope();
        using MoeFeedForward with = Layer(P, seed: 10);
        using MoeFeedForward without = Layer(0, seed: 10);
        with.eval();
        without.eval();
        Tensor x = randn(1, Tokens, D);
        foreach (ExpertExecution mode in new[] { ExpertExecution.DenseMasked, ExpertExecution.Grouped, ExpertExecution.Fused })
        {
            with.Execution = without.Execution = mode;
            Tensor before = random.get_rng_state();
            Tensor a = with.forward(x);
            Assert.True(before.bytes.SequenceEqual(random.get_rng_state().bytes), $"{mode}: evaluation drew random numbers");
            Assert.True(a.bytes.SequenceEqual(without.forward(x).bytes), $"{mode}: evaluation output depends on the dropout");
        }
    }
}
