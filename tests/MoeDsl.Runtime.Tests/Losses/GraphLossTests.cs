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
    public void ComputeWeighsAveragesOverLayersAndUpdatesTheRunningLoadOnlyInTraining()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(23);
        var routers = Enumerable.Range(0, 2).Select(i => new GraphRouter(8, 4, 2, 6, 2, 0.25, 1.2 + 0.3 * i, seed: i)).ToArray();
        foreach (var r in routers) Numerics.Randomise(r.TokenProjection, 0.3, g);
        Tensor x = randn(new long[] { 2, 3, 8 }, generator: g);
        Tensor mask = tensor(new[] { 1f, 1f, 1f, 1f, 1f, 0f });   // last token of the second sequence is padding
        var spec = new ModelSpec { Name = "gmoe", Router = new GraphRouterSettings(), Placement = ExpertPlacement.FeedForward };

        var records = routers.Select((r, i) => new RoutingRecord(i, "mlp", r, r.forward(x))).ToArray();
        // Expected: naive per layer, averaged, times the defaults 0.005 and 8; load = k * sum of top-k probabilities of real tokens.
        double poisson = 0, normal = 0;
        var expectedLoads = new List<Tensor>();
        foreach (var rec in records)
        {
            var router = (GraphRouter)rec.Router;
            Tensor keep = mask.unsqueeze(1);
            Tensor realProbs = rec.Decision.Probs.index_select(0, tensor(new long[] { 0, 1, 2, 3, 4 }));
            poisson += NaivePoisson(realProbs, router.PoissonLambda, GraphLossForm.AbsLog).item<float>();
            Tensor dense = zeros(4);
            for (int n = 0; n < 5; n++)
                foreach (long e in rec.Decision.Experts[n].data<long>().ToArray())
                    dense[e] += rec.Decision.Probs[n][e] * 2;
            expectedLoads.Add(dense.detach());
            normal += NaiveNormal(dense, router.NormalSigma, GraphLossForm.AbsLog).item<float>();
        }
        foreach (var r in routers) r.train();
        var losses = GraphAuxiliaryLosses.Compute(spec, records, mask).ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(0.005 * poisson / 2, losses["graph_poisson"].item<float>(), 6);
        Assert.Equal(8 * normal / 2, losses["graph_normal"].item<float>(), 4);
        for (int i = 0; i < 2; i++) Numerics.AssertClose(expectedLoads[i], routers[i].ExpertLoad, "running load after one step", 1e-5);
        Assert.False(routers[0].ExpertLoad.requires_grad);

        // Gradients reach sigma and lambda (both learnable).
        Tensor total = losses.Values.Aggregate((a, b) => a + b);
        var grads = autograd.grad(new[] { total }, new Tensor[] { routers[0].PoissonLambda, routers[0].NormalSigma });
        Assert.NotEqual(0f, grads[0].item<float>());
        Assert.NotEqual(0f, grads[1].item<float>());

        // Second training step: the running load accumulates; in eval nothing changes.
        GraphAuxiliaryLosses.Compute(spec, records, mask);
        Numerics.AssertClose(expectedLoads[0] * 2, routers[0].ExpertLoad, "running load after two steps", 1e-5);
        foreach (var r in routers) r.eval();
        GraphAuxiliaryLosses.Compute(spec, records, mask);
        Numerics.AssertClose(expectedLoads[0] * 2, routers[0].ExpertLoad, "eval leaves the running load alone", 1e-5);

        // Declared coefficients and a coefficient of 0.
        var declared = GraphAuxiliaryLosses.Compute(spec with { GraphLosses = GraphLossSettings.Default with { Poisson = 0.01, Normal = 0 } }, records, mask);
        Assert.Equal(new[] { "graph_poisson" }, declared.Select(p => p.Name).ToArray());
        Assert.Equal(0.01 * poisson / 2, declared[0].Value.item<float>(), 6);
        foreach (var rec in records) rec.Decision.Dispose();
    }
}
