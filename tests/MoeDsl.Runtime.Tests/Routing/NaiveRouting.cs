using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Routing;

/// <summary>Independent per-token reference of every router: loops over tokens and experts with scalar TorchSharp ops
/// (so autograd gives reference gradients) and decides on the host.</summary>
internal sealed record NaiveDecision(Tensor Probs, Tensor Dense, int[][] Chosen);

internal static class NaiveRouting
{
    /// <summary>x [B, L, d] -> probabilities [T, E], dense weights [T, E], chosen experts per token.</summary>
    public static NaiveDecision Decide(Router router, Tensor x)
    {
        long d = x.shape[^1];
        long length = x.shape[^2];
        Tensor flat = x.reshape(-1, d);
        int t = (int)flat.shape[0], e = router.Experts;
        var probRows = new Tensor[t];
        var denseRows = new Tensor[t];
        var chosen = new int[t][];
        var arrivals = new Dictionary<(long Sequence, int Expert), int>();
        for (int i = 0; i < t; i++)
        {
            Tensor xt = flat[i];
            Tensor[] logits = router is GraphRouter graphRouter ? GraphLogits(graphRouter, xt) : LinearLogits(LinearWeight(router), xt, e);
            float max = logits.Max(l => l.item<float>());
            Tensor[] ex = logits.Select(l => (l - max).exp()).ToArray();
            Tensor sum = ex.Aggregate((a, b) => a + b);
            Tensor[] p = ex.Select(v => v / sum).ToArray();
            float[] hp = p.Select(v => v.item<float>()).ToArray();
            int[] byProb = Enumerable.Range(0, e).OrderByDescending(j => hp[j]).ToArray();
            var w = new Tensor?[e];
            switch (router)
            {
                case TopKRouter topK: Renormalised(p, byProb.Take(topK.TopK).ToArray(), w); break;
                case GraphRouter graph: Renormalised(p, byProb.Take(graph.TopK).ToArray(), w); break;
                case TopPRouter topP:
                {
                    float cumulative = 0;
                    foreach (int j in byProb)
                    {
                        if (cumulative > topP.TopP) break;   // the previous expert was the first to exceed p
                        w[j] = p[j];
                        cumulative += hp[j];
                    }
                    break;
                }
                case SwitchRouter sw:
                {
                    int top = byProb[0];
                    var key = (i / length, top);
                    int arrived = arrivals.GetValueOrDefault(key) + 1;
                    arrivals[key] = arrived;
                    if (arrived <= sw.CapacityFor(length)) w[top] = p[top];
                    break;
                }
                case SoftRouter: for (int j = 0; j < e; j++) w[j] = p[j]; break;
                default: throw new ArgumentException(router.GetType().Name);
            }
            chosen[i] = Enumerable.Range(0, e).Where(j => w[j] is not null).ToArray();
            probRows[i] = stack(p);
            denseRows[i] = stack(Enumerable.Range(0, e).Select(j => w[j] ?? zeros(Array.Empty<long>())).ToArray());
        }
        return new NaiveDecision(stack(probRows), stack(denseRows), chosen);
    }

    private static void Renormalised(Tensor[] p, int[] chosen, Tensor?[] w)
    {
        Tensor total = chosen.Select(j => p[j]).Aggregate((a, b) => a + b);
        foreach (int j in chosen) w[j] = p[j] / total;
    }

    private static TorchSharp.Modules.Parameter LinearWeight(Router router) => router switch
    {
        TopKRouter r => r.Weight,
        TopPRouter r => r.Weight,
        SwitchRouter r => r.Weight,
        SoftRouter r => r.Weight,
        _ => throw new ArgumentException(router.GetType().Name),
    };

    private static Tensor Dot(Tensor a, Tensor b) => (a * b).sum();

    private static Tensor[] LinearLogits(Tensor weight, Tensor xt, int e)
        => Enumerable.Range(0, e).Select(j => Dot(weight[j], xt)).ToArray();

    private static Tensor Silu(Tensor v) => v * v.sigmoid();

    /// <summary>Node vectors of one token's graph, GCN layer by layer, node by node, with the adjacency rebuilt from
    /// <see cref="NaiveEdges"/> and the degrees counted here.</summary>
    private static Tensor[] GraphLogits(GraphRouter router, Tensor xt)
    {
        int e = router.Experts;
        double[,] a = NaiveAdjacency(NaiveEdges(router));
        Tensor Project(Tensor w, Tensor v) => stack(Enumerable.Range(0, (int)w.shape[0]).Select(r => Dot(w[r], v)).ToArray());
        var nodes = new Tensor[e + 1];
        for (int j = 0; j < e; j++) nodes[j] = Silu(Project(router.ExpertProjection, router.ExpertFeatures[j]));
        nodes[e] = Silu(Project(router.TokenProjection, xt));
        for (int l = 0; l < router.GraphLayers; l++)
        {
            Tensor[] z = nodes.Select(n => Project(router.GcnWeight(l), n)).ToArray();
            nodes = Enumerable.Range(0, e + 1).Select(i =>
                Silu(Enumerable.Range(0, e + 1).Where(j => a[i, j] != 0).Select(j => z[j] * a[i, j]).Aggregate((u, v) => u + v))).ToArray();
        }
        return Enumerable.Range(0, e).Select(j => Dot(router.Score[0], nodes[j])).ToArray();
    }

    /// <summary>GMoE's get_edges on the host: |cos| of the projected initial expert features (computed here in double from
    /// the router's X and the expert projection as constructed), threshold from 1.0 down by 0.01 until the density is reached.</summary>
    public static bool[,] EdgesFor(float[,] projected, double density)
    {
        int e = projected.GetLength(0), g = projected.GetLength(1);
        var sim = new double[e, e];
        for (int i = 0; i < e; i++)
            for (int j = 0; j < e; j++)
            {
                double dot = 0, ni = 0, nj = 0;
                for (int k = 0; k < g; k++) { dot += projected[i, k] * projected[j, k]; ni += projected[i, k] * projected[i, k]; nj += projected[j, k] * projected[j, k]; }
                sim[i, j] = i == j ? 1.0 : Math.Abs(dot / Math.Sqrt(ni) / Math.Sqrt(nj));
            }
        double y = 1.0;
        while (true)
        {
            var edges = new bool[e, e];
            int count = 0;
            for (int i = 0; i < e; i++)
                for (int j = 0; j < e; j++)
                    if (sim[i, j] >= y) { edges[i, j] = true; count++; }
            y -= 0.01;
            if (count / (double)(e * e) >= density) return edges;
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<GraphRouter, bool[,]> Initial = new();

    /// <summary>Records the router's edges from its construction-time state (call right after constructing it).</summary>
    public static void RememberInitialEdges(GraphRouter router)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Tensor projected = nn.functional.silu(nn.functional.linear(router.ExpertFeatures, router.ExpertProjection));
        int e = (int)projected.shape[0], g = (int)projected.shape[1];
        float[] flat = Numerics.Host(projected);
        var p = new float[e, g];
        for (int i = 0; i < e; i++) for (int k = 0; k < g; k++) p[i, k] = flat[i * g + k];
        Initial.AddOrUpdate(router, EdgesFor(p, router.Density));
    }

    /// <summary>True when two experts have the same closed neighbourhood in the router's graph.</summary>
    public static bool HasTwinExperts(GraphRouter router)
    {
        bool[,] edges = NaiveEdges(router);
        int e = edges.GetLength(0);
        for (int i = 0; i < e; i++)
            for (int j = i + 1; j < e; j++)
                if (edges[i, j] && Enumerable.Range(0, e).All(k => k == i || k == j || edges[i, k] == edges[j, k])) return true;
        return false;
    }

    private static bool[,] NaiveEdges(GraphRouter router)
        => Initial.TryGetValue(router, out var edges) ? edges : throw new InvalidOperationException("call RememberInitialEdges after constructing the router");

    /// <summary>(E+1)x(E+1) D^-1/2 (A + I) D^-1/2 with the token node last, from the expert-expert edges.</summary>
    public static double[,] NaiveAdjacency(bool[,] edges)
    {
        int e = edges.GetLength(0);
        var a = new double[e + 1, e + 1];
        for (int i = 0; i <= e; i++)
            for (int j = 0; j <= e; j++)
                a[i, j] = i == j ? 1 : (i == e || j == e) ? 1 : edges[i, j] ? 1 : 0;
        var degree = new double[e + 1];
        for (int i = 0; i <= e; i++) for (int j = 0; j <= e; j++) degree[i] += a[i, j];
        for (int i = 0; i <= e; i++) for (int j = 0; j <= e; j++) a[i, j] /= Math.Sqrt(degree[i] * degree[j]);
        return a;
    }
}
