using System;
using System.Linq;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Tests.Routing;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Losses;

public sealed class LoadBalanceTests
{
    /// <summary>Naive Mixtral load balance over layers pooled: f[slot, e] = share of real tokens whose slot chose e,
    /// P[e] mean probability over real tokens; E * sum f P.</summary>
    private static Tensor NaiveMixtral((Tensor Logits, long[][] Chosen)[] layers, float[]? mask, int e)
    {
        int slots = layers[0].Chosen[0].Length;
        var f = new double[slots, e];
        Tensor[] p = Enumerable.Range(0, e).Select(_ => zeros(Array.Empty<long>())).ToArray();
        double tokens = 0;
        foreach (var (logits, chosen) in layers)
            for (int n = 0; n < chosen.Length; n++)
            {
                float m = mask?[n] ?? 1;
                if (m == 0) continue;
                tokens++;
                for (int s = 0; s < slots; s++) f[s, chosen[n][s]]++;
                Tensor probs = logits[n].softmax(0);
                for (int j = 0; j < e; j++) p[j] = p[j] + probs[j];
            }
        Tensor sum = zeros(Array.Empty<long>());
        for (int s = 0; s < slots; s++) for (int j = 0; j < e; j++) sum = sum + p[j] / tokens * (f[s, j] / tokens);
        return sum * e;
    }

    private static RoutingDecision Decide(Tensor logits, int k)
    {
        Tensor probs = logits.softmax(-1);
        var (values, experts) = probs.topk(k, -1);
        return new RoutingDecision(logits, probs, experts, values / values.sum(-1, keepdim: true));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MixtralPooledOverLayersMatchesNaiveReference(bool masked)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(31);
        const int t = 6, e = 4, k = 2;
        var logits = Enumerable.Range(0, 3).Select(_ => (randn(new long[] { t, e }, generator: g) * 2).requires_grad_(true)).ToArray();
        float[]? hostMask = masked ? new[] { 1f, 1f, 0f, 1f, 1f, 0f } : null;
        Tensor? mask = hostMask is null ? null : tensor(hostMask);
        var spec = new ModelSpec { Router = new TopKRouterSettings(), Placement = ExpertPlacement.FeedForward, LoadBalance = 0.001 };
        Numerics.AssertSameValueAndGradients(
            () =>
            {
                var recs = logits.Select((l, i) => new RoutingRecord(i, "mlp", null!, Decide(l, k))).ToArray();
                return AuxiliaryLosses.Compute(spec, recs, mask).Single(p => p.Name == "load_balance").Value;
            },
            () => NaiveMixtral(logits.Select(l => (l, Numerics.Host(l.softmax(-1).topk(k, -1).indexes.to(ScalarType.Float32)).Chunk(k).Select(c => c.Select(v => (long)v).ToArray()).ToArray())).ToArray(), hostMask, e) * 0.001,
            logits.Select((l, i) => ($"logits{i}", l)).ToArray(), seed: 3);
    }

    [Fact]
    public void MixtralHandComputed()
    {
        using var scope = NewDisposeScope();
        // Two tokens, top-1: probs [0.8, 0.2] and [0.7, 0.3] both choose expert 0 -> f = [1, 0], P = [0.75, 0.25]; 2 * 0.75 = 1.5.
        Tensor probs = tensor(new[] { 0.8f, 0.2f, 0.7f, 0.3f }).reshape(2, 2);
        Tensor experts = tensor(new long[] { 0, 0 }).reshape(2, 1);
        Assert.Equal(1.5f, LoadBalanceLoss.Mixtral(probs, experts, ones(2, 1), null).item<float>(), 6);
        // MoLA form, two layers pooled per layer: layer of probs [[0.6, 0.4], [0.2, 0.8]], top-1 -> f = [0.5, 0.5], P = [0.4, 0.6] -> 2 * 0.5 = 1.
        Tensor p2 = tensor(new[] { 0.6f, 0.4f, 0.2f, 0.8f }).reshape(2, 2);
        Assert.Equal(1.0f, LoadBalanceLoss.Mola(p2, tensor(new long[] { 0, 1 }).reshape(2, 1), ones(2, 1), null).item<float>(), 6);
        // z-loss of logits [0, 0]: ln(2)^2 = 0.480453.
        Assert.Equal(0.480453f, RouterZLoss.Compute(zeros(1, 2), null).item<float>(), 6);
    }

    /// <remarks>MoLA's <c>load_balancing_loss_func</c> gets every position's router logits and no attention mask, so the
    /// naive reference counts every token; a token mask with padding must not change the loss.</remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MolaPerLayerPoolsProjectionsAndSumsLayersCountingPaddingAsMolasCode(bool withPadding)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(32);
        const int t = 5, k = 2;
        int[] expertsOf = { 4, 6 };
        // Two layers x two projections (q_proj, v_proj); layer l has E_l experts.
        var logits = new[] { 0, 0, 1, 1 }.Select(l => (randn(new long[] { t, expertsOf[l] }, generator: g) * 2).requires_grad_(true)).ToArray();
        var spec = new ModelSpec { Router = new TopKRouterSettings(), Placement = ExpertPlacement.EveryProjection, LoadBalance = 0.001 };
        Numerics.AssertSameValueAndGradients(
            () =>
            {
                var recs = logits.Select((l, i) => new RoutingRecord(i / 2, i % 2 == 0 ? "q_proj" : "v_proj", null!, Decide(l, k))).ToArray();
                Tensor? mask = withPadding ? tensor(new[] { 1f, 1f, 1f, 0f, 0f }) : null;
                return AuxiliaryLosses.Compute(spec, recs, mask).Single().Value;
            },
            () =>
            {
                Tensor total = zeros(Array.Empty<long>());
                for (int layer = 0; layer < 2; layer++)
                {
                    int e = expertsOf[layer];
                    var counts = new double[e];
                    Tensor[] p = Enumerable.Range(0, e).Select(_ => zeros(Array.Empty<long>())).ToArray();
                    int tokens = 0;
                    foreach (Tensor l in logits.Skip(2 * layer).Take(2))
                        for (int n = 0; n < t; n++)
                        {
                            Tensor probs = l[n].softmax(0);
                            float[] hp = Numerics.Host(probs);
                            foreach (int j in Enumerable.Range(0, e).OrderByDescending(j => hp[j]).Take(k)) counts[j]++;
                            for (int j = 0; j < e; j++) p[j] = p[j] + probs[j];
                            tokens++;
                        }
                    double assignments = counts.Sum();
                    Tensor layerLoss = zeros(Array.Empty<long>());
                    for (int j = 0; j < e; j++) layerLoss = layerLoss + p[j] / tokens * (counts[j] / assignments);
                    total = total + layerLoss * e;
                }
                return total * 0.001;
            },
            logits.Select((l, i) => ($"logits{i}", l)).ToArray(), seed: 4);
    }

    [Fact]
    public void SwitchZLossAndLoadBalanceCountEveryTop1ChoiceIncludingDroppedTokens()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(33);
        using var router = new SwitchRouter(4, 2, capacityFactor: 0.5);   // capacity ceil(0.5 * 4 / 2) = 1: tokens get dropped
        Tensor x = randn(new long[] { 1, 4, 4 }, generator: g);
        RoutingDecision d = router.forward(x);
        Assert.True(d.Weights.eq(0).any().item<bool>(), "the case must drop a token");
        var spec = new ModelSpec { Router = new SwitchRouterSettings { ZLossCoefficient = 0.001 }, Placement = ExpertPlacement.FeedForward, LoadBalance = 0.01 };
        var losses = AuxiliaryLosses.Compute(spec, new[] { new RoutingRecord(0, "mlp", router, d) }, null).ToDictionary(p => p.Name, p => p.Value.item<float>());

        // Naive: z = mean over tokens of (log sum exp)^2; f from argmax of every token (capacity ignored, as MoE-PEFT).
        double z = 0;
        var f = new double[2];
        double[] pm = new double[2];
        for (int n = 0; n < 4; n++)
        {
            float[] l = Numerics.Host(d.Logits[n]);
            double lse = Math.Log(l.Sum(v => Math.Exp(v)));
            z += lse * lse / 4;
            double[] p = l.Select(v => Math.Exp(v - lse)).ToArray();
            f[p[0] >= p[1] ? 0 : 1] += 0.25;
            pm[0] += p[0] / 4; pm[1] += p[1] / 4;
        }
        Assert.Equal(0.001 * z, losses["router_z"], 6);
        Assert.Equal(0.01 * 2 * (f[0] * pm[0] + f[1] * pm[1]), losses["load_balance"], 6);
    }
}
