using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Tests.Routing;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Losses;

/// <summary>GMoE with the declared non-reference variants (also round-tripped through adapter_config.json by
/// <c>AdapterConfigTests</c>, which covers every declaration of this assembly).</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 2, Hidden = 16, Intermediate = 32, Heads = 2, Vocab = 32)]
[ExpertsPerLayer(4)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 8)]
[Lora(Rank = 2)]
[GraphLosses(NormalScope = GraphNormalScope.PerLayer, CountPadding = false)]
public partial class GmoePerLayerNormal { }

public sealed class GraphLossTests
{
    private static double LogFactorial(int n) => Enumerable.Range(1, n).Sum(i => Math.Log(i));

    /// <summary>Naive Poisson distinction of one layer: per token, per rank i, scalar ops.</summary>
    private static Tensor NaivePoisson(Tensor probs, Tensor lambda, GraphLossForm form)
    {
        int t = (int)probs.shape[0], e = (int)probs.shape[1];
        float l = lambda.item<float>();
        Tensor rate = l < 1 ? lambda * 0 + 1 : l > 2 ? lambda * 0 + 2 : lambda;  // clamp, gradient 0 outside [1, 2]
        var raw = new Tensor[e];
        for (int i = 1; i <= e; i++)
        {
            int k = Math.Min(i, 32);
            raw[i - 1] = (rate.log() * k - rate - LogFactorial(k)).exp();
        }
        Tensor total = raw.Aggregate((a, b) => a + b);
        Tensor sum = zeros(Array.Empty<long>());
        for (int n = 0; n < t; n++)
        {
            float[] host = Numerics.Host(probs[n]);
            int[] order = Enumerable.Range(0, e).OrderByDescending(j => host[j]).ToArray();
            for (int i = 0; i < e; i++)
            {
                Tensor p = raw[i] / total;
                Tensor log = (p / (probs[n][order[i]] + 1e-16)).log();
                sum = sum + p * (form == GraphLossForm.AbsLog ? log.abs() : log);
            }
        }
        return sum / t;
    }

    /// <summary>Naive Normal balance of one layer.</summary>
    private static Tensor NaiveNormal(Tensor load, Tensor sigma, GraphLossForm form)
    {
        int e = (int)load.shape[0];
        double mu = e / 2.0;
        Tensor[] pdf = Enumerable.Range(0, e).Select(i => (-(i - mu) * (i - mu) / (2 * sigma * sigma)).exp() / (sigma * Math.Sqrt(2 * Math.PI))).ToArray();
        Tensor z = pdf.Aggregate((a, b) => a + b);
        float[] hq = pdf.Select(p => (p / z).item<float>()).ToArray();
        int[] qOrder = Enumerable.Range(0, e).OrderByDescending(i => hq[i]).ToArray();
        float[] hl = Numerics.Host(load);
        int[] lOrder = Enumerable.Range(0, e).OrderByDescending(i => hl[i]).ToArray();
        Tensor loadTotal = Enumerable.Range(0, e).Select(i => load[i]).Aggregate((a, b) => a + b);
        Tensor sum = zeros(Array.Empty<long>());
        for (int i = 0; i < e; i++)
        {
            Tensor q = pdf[qOrder[i]] / z;
            Tensor c = load[lOrder[i]] / loadTotal;
            Tensor log = (q / (c + 1e-8)).log();
            sum = sum + q * (form == GraphLossForm.AbsLog ? log.abs() : log);
        }
        return sum;
    }

    /// <summary>Transcription of the reference's <c>_GoE_count_loss_func(count, miu, theta)</c> on the layers stacked,
    /// in scalar ops: <c>norm_prob = exp(Normal(miu, theta).log_prob(arange(n)))</c> as an [L, E] table (row l uses sigma_l),
    /// <c>norm_prob / torch.sum(norm_prob)</c> over the WHOLE table, each row sorted descending, each layer's count sorted
    /// and divided by its own sum, <c>sum_i q |log(q / (c + 1e-8))|</c> per row, then <c>torch.sum(loss) / loss.numel()</c>.</summary>
    private static Tensor NaiveNormalStacked(Tensor[] loads, Tensor[] sigmas, GraphLossForm form)
    {
        int layers = loads.Length;
        var pdf = new Tensor[layers][];
        Tensor all = zeros(Array.Empty<long>());
        for (int l = 0; l < layers; l++)
        {
            int e = (int)loads[l].shape[0];
            double mu = e / 2.0;
            pdf[l] = new Tensor[e];
            for (int i = 0; i < e; i++)
            {
                pdf[l][i] = (-(i - mu) * (i - mu) / (2 * sigmas[l] * sigmas[l])).exp() / (sigmas[l] * Math.Sqrt(2 * Math.PI));
                all = all + pdf[l][i];
            }
        }
        Tensor sum = zeros(Array.Empty<long>());
        for (int l = 0; l < layers; l++)
        {
            int e = pdf[l].Length;
            float[] hq = pdf[l].Select(p => p.item<float>()).ToArray();
            int[] qOrder = Enumerable.Range(0, e).OrderByDescending(i => hq[i]).ToArray();
            float[] hl = Numerics.Host(loads[l]);
            int[] lOrder = Enumerable.Range(0, e).OrderByDescending(i => hl[i]).ToArray();
            Tensor loadTotal = Enumerable.Range(0, e).Select(i => loads[l][i]).Aggregate((a, b) => a + b);
            for (int i = 0; i < e; i++)
            {
                Tensor q = pdf[l][qOrder[i]] / all;
                Tensor log = (q / (loads[l][lOrder[i]] / loadTotal + 1e-8)).log();
                sum = sum + q * (form == GraphLossForm.AbsLog ? log.abs() : log);
            }
        }
        return sum / layers;
    }

    [Theory]
    [InlineData(GraphLossForm.AbsLog, 8, 5)]
    [InlineData(GraphLossForm.AbsLog, 5, 3)]
    [InlineData(GraphLossForm.KL, 8, 4)]
    public void NormalBalanceAcrossLayersMatchesTheReferenceFormula(GraphLossForm form, int experts, int layers)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(24);
        Tensor[] loads = Enumerable.Range(0, layers).Select(_ => (rand(new long[] { experts }, generator: g) * 10 + 0.5).requires_grad_(true)).ToArray();
        Tensor[] sigmas = Enumerable.Range(0, layers).Select(l => tensor(experts / 2.0f + 0.2f * l).requires_grad_(true)).ToArray();
        var leaves = loads.Select((t, l) => ($"load{l}", t)).Concat(sigmas.Select((t, l) => ($"sigma{l}", t))).ToList();
        Numerics.AssertSameValueAndGradients(
            () => GraphLosses.NormalBalanceAcrossLayers(loads, sigmas, form),
            () => NaiveNormalStacked(loads, sigmas, form), leaves, seed: 3);
    }

    [Fact]
    public void NormalBalanceAcrossLayersHandComputed()
    {
        using var scope = NewDisposeScope();
        // Two layers of 2 experts, sigma 1, mu 1: pdf at 0 and 1 is e^-0.5 : 1 in each layer; ONE sum over both layers
        // -> each layer's sorted target is 1 / (2 (1 + e^-0.5)) = 0.311230 and 0.188770 (sums to 1/2).
        // Layer 0 load [1, 3] -> 0.75, 0.25: 0.311230 |ln(0.311230/0.75)| + 0.188770 |ln(0.188770/0.25)| = 0.326771.
        // Layer 1 load [2, 2] -> 0.5, 0.5: 0.331424. Mean over the layers: 0.329097 (KL form: -0.329097).
        Tensor[] loads = { tensor(new[] { 1f, 3f }), tensor(new[] { 2f, 2f }) };
        Tensor[] sigmas = { tensor(1f), tensor(1f) };
        Assert.Equal(0.3290972, GraphLosses.NormalBalanceAcrossLayers(loads, sigmas, GraphLossForm.AbsLog).item<float>(), 5);
        Assert.Equal(-0.3290972, GraphLosses.NormalBalanceAcrossLayers(loads, sigmas, GraphLossForm.KL).item<float>(), 5);
        // Per layer (target sums to 1 in each layer) the same loads give 0.271652 and 0.087541 (mean 0.179597): not the same loss.
        Assert.Equal(0.2716521, GraphLosses.NormalBalance(loads[0], sigmas[0], GraphLossForm.AbsLog).item<float>(), 5);
    }

    public static IEnumerable<object[]> Cases() =>
        from form in new[] { GraphLossForm.AbsLog, GraphLossForm.KL }
        from experts in new[] { 6, 40 }
        from lambda in new[] { 1.3f, 2.5f }
        select new object[] { form, experts, lambda };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PoissonDistinctionMatchesNaiveReference(GraphLossForm form, int experts, float lambdaValue)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(21);
        Tensor logits = (randn(new long[] { 7, experts }, generator: g) * 2).requires_grad_(true);
        Tensor lambda = tensor(lambdaValue).requires_grad_(true);
        var leaves = new List<(string, Tensor)> { ("logits", logits) };
        if (lambdaValue <= 2) leaves.Add(("lambda", lambda));
        Numerics.AssertSameValueAndGradients(
            () => GraphLosses.PoissonDistinction(logits.softmax(-1), lambda, null, form),
            () => NaivePoisson(logits.softmax(-1), lambda, form), leaves, seed: 1);
        if (lambdaValue > 2)
        {
            // Outside [1, 2] lambda is clamped: no gradient reaches it.
            Tensor loss = GraphLosses.PoissonDistinction(logits.softmax(-1), lambda, null, form);
            Tensor grad = autograd.grad(new[] { loss }, new[] { lambda })[0];
            Assert.Equal(0f, grad.item<float>());
        }
    }

    [Theory]
    [InlineData(GraphLossForm.AbsLog, 8)]
    [InlineData(GraphLossForm.KL, 8)]
    [InlineData(GraphLossForm.AbsLog, 5)]
    public void NormalBalanceMatchesNaiveReference(GraphLossForm form, int experts)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(22);
        Tensor load = (rand(new long[] { experts }, generator: g) * 10 + 0.5).requires_grad_(true);
        Tensor sigma = tensor(experts / 2.0f + 0.3f).requires_grad_(true);
        Numerics.AssertSameValueAndGradients(
            () => GraphLosses.NormalBalance(load, sigma, form),
            () => NaiveNormal(load, sigma, form),
            new List<(string, Tensor)> { ("load", load), ("sigma", sigma) }, seed: 2);
    }

    [Fact]
    public void HandComputedTwoExpertCases()
    {
        using var scope = NewDisposeScope();
        // Poisson(1.5) at 1, 2: 1.5 e^-1.5 and 1.125 e^-1.5 -> normalised 1/1.75 and 0.75/1.75; sorted probs 0.7, 0.3.
        // 0.571429 |ln(0.571429 / 0.7)| + 0.428571 |ln(0.428571 / 0.3)| = 0.268827; without |.|: 0.036894.
        Tensor probs = tensor(new[] { 0.3f, 0.7f }).reshape(1, 2);
        Assert.Equal(0.2688269, GraphLosses.PoissonDistinction(probs, tensor(1.5f), null, GraphLossForm.AbsLog).item<float>(), 6);
        Assert.Equal(0.0368945, GraphLosses.PoissonDistinction(probs, tensor(1.5f), null, GraphLossForm.KL).item<float>(), 6);
        // Normal(1, 1) at 0, 1: e^-0.5 : 1 -> q = 0.622459, 0.377541 (sorted); load [1, 3] -> c = 0.75, 0.25.
        Tensor load = tensor(new[] { 1f, 3f });
        Assert.Equal(0.2716521, GraphLosses.NormalBalance(load, tensor(1f), GraphLossForm.AbsLog).item<float>(), 6);
        Assert.Equal(0.0396055, GraphLosses.NormalBalance(load, tensor(1f), GraphLossForm.KL).item<float>(), 6);
        // Targets past 32 experts repeat the 32nd value.
        float[] p = Numerics.Host(GraphLosses.PoissonTarget(tensor(1.5f), 40));
        Assert.All(p.Skip(32), v => Assert.Equal(p[31], v));
    }

    [Fact]
    public void ComputeFollowsTheReferenceByDefaultAndUpdatesTheRunningLoadOnlyInTraining()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(23);
        var routers = Enumerable.Range(0, 2).Select(i => new GraphRouter(8, 4, 2, 6, 2, 0.25, 1.2 + 0.3 * i, seed: i)).ToArray();
        foreach (var r in routers) Numerics.Randomise(r.TokenProjection, 0.3, g);
        Tensor x = randn(new long[] { 2, 3, 8 }, generator: g);
        Tensor mask = tensor(new[] { 1f, 1f, 1f, 1f, 1f, 0f });   // last token of the second sequence is padding
        var spec = new ModelSpec { Name = "gmoe", Router = new GraphRouterSettings(), Placement = ExpertPlacement.FeedForward };

        var records = routers.Select((r, i) => new RoutingRecord(i, "mlp", r, r.forward(x))).ToArray();
        // Expected, as the reference: every position counts (padding too); Poisson per layer averaged over the layers;
        // Normal on the layers stacked; load = k * sum of top-k probabilities; times the defaults 0.005 and 8.
        // The declared variant (CountPadding = false, PerLayer): real tokens only, per-layer Normal averaged and times 8 / L.
        double poisson = 0, poissonReal = 0, normalPerLayer = 0;
        var loads = new List<Tensor>();
        var realLoads = new List<Tensor>();
        foreach (var rec in records)
        {
            var router = (GraphRouter)rec.Router;
            Tensor realProbs = rec.Decision.Probs.index_select(0, tensor(new long[] { 0, 1, 2, 3, 4 }));
            poisson += NaivePoisson(rec.Decision.Probs, router.PoissonLambda, GraphLossForm.AbsLog).item<float>();
            poissonReal += NaivePoisson(realProbs, router.PoissonLambda, GraphLossForm.AbsLog).item<float>();
            Tensor dense = zeros(4), real = zeros(4);
            for (int n = 0; n < 6; n++)
                foreach (long e in rec.Decision.Experts[n].data<long>().ToArray())
                {
                    dense[e] += rec.Decision.Probs[n][e] * 2;
                    if (n < 5) real[e] += rec.Decision.Probs[n][e] * 2;
                }
            loads.Add(dense.detach());
            realLoads.Add(real.detach());
            normalPerLayer += NaiveNormal(real, router.NormalSigma, GraphLossForm.AbsLog).item<float>();
        }
        double normal = NaiveNormalStacked(loads.ToArray(), routers.Select(r => r.NormalSigma).ToArray(), GraphLossForm.AbsLog).item<float>();
        foreach (var r in routers) r.train();
        var losses = GraphAuxiliaryLosses.Compute(spec, records, mask).ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(0.005 * poisson / 2, losses["graph_poisson"].item<float>(), 6);
        Assert.Equal(8 * normal, losses["graph_normal"].item<float>(), 4);
        for (int i = 0; i < 2; i++) Numerics.AssertClose(loads[i], routers[i].ExpertLoad, "running load after one step", 1e-5);
        Assert.False(routers[0].ExpertLoad.requires_grad);

        // Gradients reach sigma and lambda (both learnable).
        Tensor total = losses.Values.Aggregate((a, b) => a + b);
        var grads = autograd.grad(new[] { total }, new Tensor[] { routers[0].PoissonLambda, routers[0].NormalSigma });
        Assert.NotEqual(0f, grads[0].item<float>());
        Assert.NotEqual(0f, grads[1].item<float>());

        // Second training step: the running load accumulates; in eval nothing changes.
        GraphAuxiliaryLosses.Compute(spec, records, mask);
        Numerics.AssertClose(loads[0] * 2, routers[0].ExpertLoad, "running load after two steps", 1e-5);
        foreach (var r in routers) r.eval();
        GraphAuxiliaryLosses.Compute(spec, records, mask);
        Numerics.AssertClose(loads[0] * 2, routers[0].ExpertLoad, "eval leaves the running load alone", 1e-5);

        // The declared variant: padding masked, per-layer Normal with the coefficient over L. Fresh routers' running load
        // is this batch's real-token load.
        foreach (var r in routers) { r.ExpertLoad.zero_(); r.train(); }
        var variant = spec with { GraphLosses = GraphLossSettings.Default with { NormalScope = GraphNormalScope.PerLayer, CountPadding = false } };
        var masked = GraphAuxiliaryLosses.Compute(variant, records, mask).ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(0.005 * poissonReal / 2, masked["graph_poisson"].item<float>(), 6);
        Assert.Equal(8.0 / 2 * normalPerLayer / 2, masked["graph_normal"].item<float>(), 4);
        for (int i = 0; i < 2; i++) Numerics.AssertClose(realLoads[i], routers[i].ExpertLoad, "real-token running load", 1e-5);

        // Declared coefficients and a coefficient of 0.
        var declared = GraphAuxiliaryLosses.Compute(spec with { GraphLosses = GraphLossSettings.Default with { Poisson = 0.01, Normal = 0 } }, records, mask);
        Assert.Equal(new[] { "graph_poisson" }, declared.Select(p => p.Name).ToArray());
        Assert.Equal(0.01 * poisson / 2, declared[0].Value.item<float>(), 6);
        foreach (var rec in records) rec.Decision.Dispose();
    }

    [Fact]
    public void TheReferencesNormalLossPrefersOneDominantExpertOverItsOwnTargetWhenThereAreSeveralLayers()
    {
        using var scope = NewDisposeScope();
        // Documented in docs/methods.md: with the target normalised over L layers, a layer's term is
        // (1/L) sum_i q_i |log(q_i / c_i) - log L|; it is 0 at c_i = q_i / L, not at c = q. For E = 8, sigma = 4, L = 5
        // (hand-computed with the same formula): at the Normal target c = q it is 0.322 per layer, with one expert
        // holding 1 - (1 - q_1) / L of the load and the others q_i / L it is 0.098. The per-layer loss ranks them the
        // other way (0 and 1.628).
        const int layers = 5, experts = 8;
        Tensor sigma = tensor(experts / 2f);
        Tensor q = GraphLosses.NormalTarget(sigma, experts);
        Tensor dominant = cat(new[] { (1 - (1 - q[0]) / layers).reshape(1), q.narrow(0, 1, experts - 1) / layers }, 0);
        Tensor[] sigmas = Enumerable.Repeat(sigma, layers).ToArray();
        double atTarget = GraphLosses.NormalBalanceAcrossLayers(Enumerable.Repeat(q, layers).ToArray(), sigmas, GraphLossForm.AbsLog).item<float>();
        double atDominant = GraphLosses.NormalBalanceAcrossLayers(Enumerable.Repeat(dominant, layers).ToArray(), sigmas, GraphLossForm.AbsLog).item<float>();
        Assert.Equal(0.322, atTarget, 3);
        Assert.Equal(0.098, atDominant, 3);
        Assert.Equal(0.0, GraphLosses.NormalBalance(q, sigma, GraphLossForm.AbsLog).item<float>(), 5);
        Assert.Equal(1.628, GraphLosses.NormalBalance(dominant, sigma, GraphLossForm.AbsLog).item<float>(), 3);
    }

    /// <summary>The reference's Normal loss on the layers stacked (as <see cref="NaiveNormalStacked"/>) in double precision
    /// on the host, where exp(-200) is 1e-87 and not 0.</summary>
    private static double HostNormalStacked(double[][] loads, double[] sigmas)
    {
        double[][] pdf = loads.Select((load, l) => Enumerable.Range(0, load.Length)
            .Select(i => Math.Exp(-(i - load.Length / 2.0) * (i - load.Length / 2.0) / (2 * sigmas[l] * sigmas[l])) / (sigmas[l] * Math.Sqrt(2 * Math.PI))).ToArray()).ToArray();
        double all = pdf.Sum(p => p.Sum());
        double sum = 0;
        for (int l = 0; l < loads.Length; l++)
        {
            double[] q = pdf[l].Select(p => p / all).OrderByDescending(v => v).ToArray();
            double[] c = loads[l].Select(v => v / loads[l].Sum()).OrderByDescending(v => v).ToArray();
            sum += q.Zip(c, (qi, ci) => qi * Math.Abs(Math.Log(qi / (ci + 1e-8)))).Sum();
        }
        return sum / loads.Length;
    }

    [Fact]
    public void TheNormalLossStaysFiniteWhereTheReferencesFloat32TargetUnderflows()
    {
        using var scope = NewDisposeScope();
        // E = 8, sigma 0.2 in one layer: exp(-(4^2) / (2 * 0.04)) = exp(-200) is 0 in float32, so the reference's
        // exp(log_prob) target has a 0 entry and its loss is 0 * log 0 = NaN (the main job's --full diverged there, sigma
        // having drifted from 4 to below 0.3). The log-space target gives the double-precision value, with a finite gradient.
        double[][] hostLoads = { new[] { 5.0, 1, 0.5, 2, 7, 0.25, 3, 1 }, new[] { 1.0, 2, 3, 4, 5, 6, 7, 8 } };
        double[] hostSigmas = { 0.2, 3.5 };
        Tensor[] loads = hostLoads.Select(l => tensor(l.Select(v => (float)v).ToArray())).ToArray();
        Tensor[] sigmas = hostSigmas.Select(v => tensor((float)v).requires_grad_(true)).ToArray();
        Assert.True(float.IsNaN(NaiveNormalStacked(loads, sigmas, GraphLossForm.AbsLog).item<float>()), "the float32 transcription of the reference is NaN here");
        Tensor loss = GraphLosses.NormalBalanceAcrossLayers(loads, sigmas, GraphLossForm.AbsLog);
        Assert.Equal(HostNormalStacked(hostLoads, hostSigmas), loss.item<float>(), 4);
        var grads = autograd.grad(new[] { loss }, sigmas);
        Assert.All(grads, g => Assert.True(float.IsFinite(g.item<float>())));
        // Per layer: the target at sigma 0.2 puts 1 - 2e-5 on i = 4 (neighbours e^-12.5 each): loss = -log(7 / 19.75), the load summing to 19.75.
        Assert.Equal(-Math.Log(7 / 19.75), GraphLosses.NormalBalance(loads[0], tensor(0.2f), GraphLossForm.AbsLog).item<float>(), 3);
    }

    [Fact]
    public void SigmaIsClampedAtTheFloorWhereUsed()
    {
        using var scope = NewDisposeScope();
        Tensor load = tensor(new[] { 5f, 1f, 0.5f, 2f, 7f, 0.25f, 3f, 1f });
        float AtFloor() => GraphLosses.NormalBalance(load, tensor((float)GraphLosses.NormalSigmaFloor), GraphLossForm.AbsLog).item<float>();
        foreach (float below in new[] { 0.01f, 0f, -1f })
        {
            Tensor sigma = tensor(below).requires_grad_(true);
            Tensor loss = GraphLosses.NormalBalanceAcrossLayers(new[] { load, load }, new[] { sigma, sigma }, GraphLossForm.AbsLog);
            Assert.Equal(AtFloor(), GraphLosses.NormalBalance(load, sigma, GraphLossForm.AbsLog).item<float>(), 6);
            Assert.True(float.IsFinite(loss.item<float>()));
            Assert.Equal(0f, autograd.grad(new[] { loss }, new[] { sigma })[0].item<float>());
        }
        // Above the floor sigma moves the loss: a finite, non-zero gradient.
        Tensor above = tensor(0.5f).requires_grad_(true);
        float grad = autograd.grad(new[] { GraphLosses.NormalBalance(load, above, GraphLossForm.AbsLog) }, new[] { above })[0].item<float>();
        Assert.True(float.IsFinite(grad) && grad != 0, $"gradient at sigma 0.5: {grad}");
    }

    [Fact]
    public void TheDefaultIsTheReferenceAndTheVariantIsDeclared()
    {
        Assert.Equal(GraphNormalScope.AcrossLayers, GraphLossSettings.Default.NormalScope);
        Assert.True(GraphLossSettings.Default.CountPadding);
        Assert.Equal(GraphLossSettings.Default with { NormalScope = GraphNormalScope.PerLayer, CountPadding = false }, GmoePerLayerNormal.Spec.GraphLosses);
    }
}
