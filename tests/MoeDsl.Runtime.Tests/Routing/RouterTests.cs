using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Routing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Routing;

public sealed class RouterTests
{
    private readonly ITestOutputHelper output;
    public RouterTests(ITestOutputHelper output) => this.output = output;

    internal const int D = 8, E = 5;

    /// <summary>Every router kind with random parameters; the graph router's trained weights are re-drawn too.</summary>
    internal static Router Create(string kind, int inFeatures, int experts, Generator g) => kind switch
    {
        "topk" => Randomised(new TopKRouter(inFeatures, experts, topK: 2), g),
        "topp" => Randomised(new TopPRouter(inFeatures, experts, topP: 0.6), g),
        "switch" => Randomised(new SwitchRouter(inFeatures, experts, capacityFactor: 1.0), g),
        "soft" => Randomised(new SoftRouter(inFeatures, experts), g),
        "graph" => GraphFor(inFeatures, experts, g, layers: 2),
        "graph-1-layer" => GraphFor(inFeatures, experts, g, layers: 1),
        "graph-3-layers" => GraphFor(inFeatures, experts, g, layers: 3),
        "graph-width-21" => GraphFor(inFeatures, experts, g, layers: 2, width: 21),
        "graph-width-21-1-layer" => GraphFor(inFeatures, experts, g, layers: 1, width: 21),
        "graph-width-21-3-layers" => GraphFor(inFeatures, experts, g, layers: 3, width: 21),
        "graph-ops" => GraphFor(inFeatures, experts, g, layers: 2, kernels: false),
        "graph-ops-1-layer" => GraphFor(inFeatures, experts, g, layers: 1, kernels: false),
        "graph-ops-3-layers" => GraphFor(inFeatures, experts, g, layers: 3, kernels: false),
        "graph-ops-21" => GraphFor(inFeatures, experts, g, layers: 2, width: 21, kernels: false),
        "graph-ops-21-3" => GraphFor(inFeatures, experts, g, layers: 3, width: 21, kernels: false),
        _ => throw new ArgumentException(kind),
    };

    /// <summary>A Graph router of GCN width <paramref name="width"/>; <paramref name="kernels"/> false keeps it on its
    /// tensor-op path (the CPU node <c>GraphConvolution</c> otherwise: 8-wide column vectors, so width 6 is one masked
    /// tail and 21 two full vectors and a tail).</summary>
    private static GraphRouter GraphFor(int inFeatures, int experts, Generator g, int layers, int width = 6, bool kernels = true)
    {
        // Two experts with the same closed neighbourhood ("twins", e.g. an isolated connected pair) get identical GCN
        // outputs and so identical probabilities: GMoE's architecture ties them exactly, and top-k then breaks the tie by
        // an order no reference specifies. Take the first seed whose graph has no twins.
        GraphRouter router;
        for (long seed = 1; ; seed++)
        {
            router = new GraphRouter(inFeatures, experts, topK: 2, graphHidden: width, graphLayers: layers, density: 0.4, poissonLambda: 1.5, seed: seed) { UseKernels = kernels };
            NaiveRouting.RememberInitialEdges(router);
            if (!NaiveRouting.HasTwinExperts(router)) break;
            router.Dispose();
        }
        // Scales chosen so that tokens spread over the experts (the token node must move the expert nodes' scores).
        Numerics.Randomise(router.TokenProjection, 1.5, g);
        Numerics.Randomise(router.ExpertProjection, 0.5, g);
        // The GCN and score weights scaled by sqrt(6 / width), so that every width keeps the activations of width 6.
        double perWidth = Math.Sqrt(6.0 / width);
        for (int l = 0; l < router.GraphLayers; l++) Numerics.Randomise(router.GcnWeight(l), perWidth, g);
        Numerics.Randomise(router.Score, 2.0 * perWidth, g);
        return router;
    }

    private static Router Randomised(Router router, Generator g)
    {
        foreach (var p in router.parameters()) Numerics.Randomise(p, 0.5, g);
        return router;
    }

    public static IEnumerable<object[]> Kinds() => new[] { "topk", "topp", "switch", "soft", "graph" }.Select(k => new object[] { k });

    /// <summary><see cref="Kinds"/> and the Graph router at one and three GCN layers: its first layer computes the expert rows
    /// once and its last keeps only the expert rows, so one layer (first and last at once) and three (a middle layer) take
    /// paths two layers do not; each depth on the CPU node at two widths and on the tensor-op path.</summary>
    public static IEnumerable<object[]> KindsAndGraphDepths() => Kinds().Concat(new[]
    {
        "graph-1-layer", "graph-3-layers", "graph-width-21", "graph-width-21-1-layer", "graph-width-21-3-layers", "graph-ops", "graph-ops-1-layer", "graph-ops-3-layers", "graph-ops-21", "graph-ops-21-3",
    }.Select(k => new object[] { k }));

    [Theory]
    [MemberData(nameof(KindsAndGraphDepths))]
    public void RouterMatchesNaivePerTokenReferenceInValuesAndGradients(string kind)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        using Router router = Create(kind, D, E, g);
        Tensor x = (randn(new long[] { 2, 6, D }, generator: g)).requires_grad_(true);
        var leaves = new List<(string, Tensor)> { ("x", x) };
        leaves.AddRange(router.named_parameters().Where(p => p.name is not ("poisson_lambda" or "normal_sigma")).Select(p => (p.name, (Tensor)p.parameter)));

        RoutingDecision decision = router.forward(x);
        NaiveDecision naive = NaiveRouting.Decide(router, x);
        Numerics.AssertClose(naive.Probs, decision.Probs, "probs");
        Assert.Equal(naive.Probs.shape, decision.Logits.shape);
        Numerics.AssertClose(decision.Logits.softmax(-1), decision.Probs, "probs = softmax(logits)");

        var (value, gradient) = Numerics.AssertSameValueAndGradients(
            () => { RoutingDecision dd = router.forward(x); return cat(new[] { dd.DenseWeights(), dd.Probs }, 1); },
            () => { NaiveDecision nd = NaiveRouting.Decide(router, x); return cat(new[] { nd.Dense, nd.Probs }, 1); },
            leaves, seed: 5);
        output.WriteLine($"{kind}: max |value diff| {value:G3}, max |gradient diff| {gradient:G3} over {leaves.Count} tensors");

        // The decision must route somewhere: at least one expert per token except Switch tokens over capacity.
        long[] used = Numerics.Host(decision.Weights.gt(0).sum(1).to(ScalarType.Float32)).Select(v => (long)v).ToArray();
        if (kind != "switch") Assert.All(used, u => Assert.True(u >= 1));
    }

    [Fact]
    public void TopPKeepsThePrefixUpToTheFirstCumulativeSumAboveP_NotRenormalised()
    {
        using var scope = NewDisposeScope();
        // W = I and x = log p make the router's probabilities p exactly (up to rounding).
        float[] p = { 0.5f, 0.25f, 0.15f, 0.1f };
        Tensor x = tensor(p.Select(v => MathF.Log(v)).ToArray()).reshape(1, 1, 4);
        foreach (var (topP, expected) in new[] {
                     (0.4, new[] { 0.5f, 0f, 0f, 0f }),        // 0.5 > 0.4 already: one expert
                     (0.7, new[] { 0.5f, 0.25f, 0f, 0f }),     // 0.75 > 0.7
                     (0.8, new[] { 0.5f, 0.25f, 0.15f, 0f }),  // 0.75 <= 0.8 < 0.9
                     (1.0, new[] { 0.5f, 0.25f, 0.15f, 0.1f }) })
        {
            using var router = new TopPRouter(4, 4, topP);
            Numerics.Set(router.Weight, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1);
            RoutingDecision d = router.forward(x);
            Numerics.AssertClose(tensor(expected).reshape(1, 4), d.DenseWeights(), $"top-p {topP}", 1e-6);
            Assert.Equal(new long[] { 0, 1, 2, 3 }, d.Experts.data<long>().ToArray()); // slots in descending order
        }
    }

    [Fact]
    public void SwitchDropsTokensOverEachSequencesCapacityFirstComeByPosition()
    {
        using var scope = NewDisposeScope();
        // E = 2, L = 4, capacity factor 1 -> capacity ceil(4 / 2) = 2 per expert and sequence.
        using var router = new SwitchRouter(2, 2, capacityFactor: 1.0);
        Numerics.Set(router.Weight, 1, 0, 0, 1);
        float[][] probs = { new[] { 0.9f, 0.1f }, new[] { 0.8f, 0.2f }, new[] { 0.6f, 0.4f }, new[] { 0.3f, 0.7f } };
        Tensor seq = tensor(probs.SelectMany(r => r.Select(v => MathF.Log(v))).ToArray()).reshape(1, 4, 2);
        Tensor x = cat(new[] { seq, seq.flip(1) }, 0);  // second sequence: the same tokens in reverse order
        RoutingDecision d = router.forward(x);
        Assert.Equal(2, router.CapacityFor(4));
        Assert.Equal(new long[] { 0, 0, 0, 1, 1, 0, 0, 0 }, d.Experts.reshape(-1).data<long>().ToArray());
        // Sequence 1: third token is expert 0's third arrival -> dropped. Sequence 2 (reversed): expert 0 takes 0.6 and 0.8, drops 0.9.
        Numerics.AssertClose(tensor(new[] { 0.9f, 0.8f, 0f, 0.7f, 0.7f, 0.6f, 0.8f, 0f }).reshape(8, 1), d.Weights, "switch weights", 1e-6);
        Assert.Equal(3, new SwitchRouter(2, 4, capacityFactor: 1.25).CapacityFor(8) + 0 * 1); // ceil(1.25 * 8 / 4) = 3
        Assert.Equal(1, new SwitchRouter(2, 11, capacityFactor: 1.1).CapacityFor(10));        // 1.1 * 10 / 11 = 1, not 2
        Assert.Equal(32, new SwitchRouter(2, 4, capacityFactor: 1.0, expertCapacity: 32).CapacityFor(8));
    }

    [Fact]
    public void SoftRouterWeighsEveryExpertByItsProbability()
    {
        using var scope = NewDisposeScope();
        using var router = new SoftRouter(2, 2);
        Numerics.Set(router.Weight, 1, 0, 0, 1);
        RoutingDecision d = router.forward(tensor(new[] { 1f, 0f }).reshape(1, 1, 2));
        // softmax([1, 0]) = [e/(e+1), 1/(e+1)]
        Numerics.AssertClose(tensor(new[] { 0.7310586f, 0.2689414f }).reshape(1, 2), d.DenseWeights(), "soft", 1e-6);
    }

    [Fact]
    public void ExpertGraphThresholdsAndNormalisesAsComputedByHand()
    {
        using var scope = NewDisposeScope();
        // Orthogonal features: |cos| = I; at threshold 1.0 the density is 2/4 = 0.5 -> no expert-expert edges.
        Tensor edges = ExpertGraph.ExpertEdges(tensor(new[] { 1f, 0f, 0f, 1f }).reshape(2, 2), 0.5);
        Assert.Equal(new[] { true, false, false, true }, edges.reshape(-1).data<bool>().ToArray());
        // Degrees: each expert 2 (self, token), token 3 (self, 2 experts): 1/2 on expert diagonals, 1/sqrt(6) expert-token, 1/3 token.
        float et = 1 / MathF.Sqrt(6);
        Numerics.AssertClose(tensor(new[] { 0.5f, 0f, et, 0f, 0.5f, et, et, et, 1 / 3f }).reshape(3, 3), ExpertGraph.NormalisedAdjacency(edges), "adjacency", 1e-7);

        // |cos| = 1/sqrt(2) = 0.7071 between the two: reached when the threshold has fallen to 0.70 -> all connected.
        Tensor dense = ExpertGraph.ExpertEdges(tensor(new[] { 1f, 0f, 1f, 1f }).reshape(2, 2), 0.75);
        Assert.All(dense.reshape(-1).data<bool>().ToArray(), Assert.True);
        Numerics.AssertClose(full(3, 3, 1 / 3f), ExpertGraph.NormalisedAdjacency(dense), "complete graph", 1e-7);
    }

    [Fact]
    public void GraphRouterIsDeterministicFromItsSeedAndKeepsItsEdgeSetAsBuffers()
    {
        using var scope = NewDisposeScope();
        using var a = new GraphRouter(16, 8, 2, 12, 2, 0.25, 1.5, seed: 3);
        using var b = new GraphRouter(16, 8, 2, 12, 2, 0.25, 1.5, seed: 3);
        using var c = new GraphRouter(16, 8, 2, 12, 2, 0.25, 1.5, seed: 4);
        var sa = a.state_dict();
        var sb = b.state_dict();
        Assert.Equal(new[] { "adjacency", "expert_features", "expert_load", "expert_proj.weight", "gcn.0.weight", "gcn.1.weight", "normal_sigma", "poisson_lambda", "score.weight", "token_proj.weight" },
                     sa.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray());
        foreach (string k in sa.Keys) Assert.True(Same(sa[k], sb[k]), k);
        Assert.False(Same(sa["expert_features"], c.state_dict()["expert_features"]));
        Assert.Equal(GraphRouter.TrainableParameterCount(16, 12, 2), a.parameters().Where(p => p.requires_grad).Sum(p => p.numel()));
        Assert.Equal(2 * 12 * 16 + 2 * 12 * 12 + 12 + 2, GraphRouter.TrainableParameterCount(16, 12, 2));
        Assert.False(a.ExpertFeatures.requires_grad);
        Assert.Equal(1.5f, a.PoissonLambda.item<float>());
        Assert.Equal(4f, a.NormalSigma.item<float>());

        // The edge density reached is at least rho (diagonal included) and the adjacency is symmetric with the token row full.
        Tensor adj = a.Adjacency;
        Assert.True(Same(adj, adj.t()));
        Assert.True(adj[8].gt(0).all().item<bool>());
        double density = adj.narrow(0, 0, 8).narrow(1, 0, 8).gt(0).sum().item<long>() / 64.0;
        Assert.True(density >= 0.25, $"density {density}");

        // Training the projections does not rebuild the graph: the adjacency is the one from construction.
        Tensor before = adj.clone();
        using (no_grad()) a.ExpertProjection.mul_(-3).add_(1);
        a.forward(randn(1, 3, 16));
        Assert.True(Same(before, a.Adjacency));

        // Default GMoE initialisation: token projection xavier-uniform with gain 100.
        double bound = 100 * Math.Sqrt(6.0 / (12 + 16));
        Assert.True(a.TokenProjection.abs().max().item<float>() <= bound);
        Assert.True(a.TokenProjection.abs().max().item<float>() > bound / 2);
    }

    [Fact]
    public void GraphRouterRoutesAnyNumberOfTokens()
    {
        using var scope = NewDisposeScope();
        using var router = new GraphRouter(8, 4, 2, 8, 2, 0.25, 1.5, seed: 1);
        RoutingDecision d = router.forward(randn(1, 2000, 8));  // GMoE's sparse GCN stops at 1,750 tokens
        Assert.Equal(new long[] { 2000, 4 }, d.Probs.shape);
        Numerics.AssertClose(ones(2000), d.Weights.sum(1), "weights sum to 1", 1e-6);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void BadArgumentsNameTheParameter()
    {
        Assert.Equal("topP", Assert.Throws<ArgumentOutOfRangeException>(() => new TopPRouter(4, 4, 0)).ParamName);
        Assert.Equal("capacityFactor", Assert.Throws<ArgumentOutOfRangeException>(() => new SwitchRouter(4, 4, 0)).ParamName);
        Assert.Equal("topK", Assert.Throws<ArgumentOutOfRangeException>(() => new GraphRouter(4, 4, 5, 8, 2, 0.25, 1.5, 0)).ParamName);
        Assert.Equal("density", Assert.Throws<ArgumentOutOfRangeException>(() => new GraphRouter(4, 4, 2, 8, 2, 0, 1.5, 0)).ParamName);
    }
}
