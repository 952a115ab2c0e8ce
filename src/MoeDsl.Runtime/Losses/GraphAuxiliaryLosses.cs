using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>GMoE's Poisson distinction and Normal balance losses over the Graph routers' decisions of one forward,
/// each averaged over the layers and multiplied by its coefficient (defaults 0.005 and 8, GMoE's config).</summary>
/// <remarks>Called once per training forward. Each call adds this batch's load to every router's running load
/// (<see cref="GraphRouter.AccumulateLoad"/>, only when the router is in training mode), as GMoE does in its forward.</remarks>
public static class GraphAuxiliaryLosses
{
    /// <summary>Computes the weighted GMoE losses: ("graph_poisson", ...) and ("graph_normal", ...); a coefficient of 0
    /// leaves its loss out. <paramref name="tokenMask"/> [T] (1 = real token) or null.</summary>
    public static IReadOnlyList<(string Name, Tensor Value)> Compute(ModelSpec spec, IReadOnlyList<RoutingRecord> records, Tensor? tokenMask)
    {
        var result = new List<(string, Tensor)>();
        var graph = records.Where(r => r.Router is GraphRouter).ToArray();
        if (graph.Length == 0) return result;
        if (graph.Length != records.Count)
            throw new InvalidOperationException($"{spec.Name}: the Graph router's losses need every routed layer to use a GraphRouter, "
                                                + $"but {records.Count - graph.Length} of {records.Count} decisions came from other routers");

        GraphLossSettings settings = spec.EffectiveGraphLosses ?? GraphLossSettings.Default;
        double poisson = settings.Poisson, normal = settings.Normal;

        // Load first, so the running totals advance exactly once per forward whichever losses are declared.
        var loads = graph.Select(r => ((GraphRouter)r.Router).AccumulateLoad(GraphLosses.BatchLoad(r.Decision, tokenMask))).ToArray();

        if (poisson != 0)
        {
            Tensor total = graph.Select(r => GraphLosses.PoissonDistinction(r.Decision.Probs, ((GraphRouter)r.Router).PoissonLambda, tokenMask, settings.Form))
                                .Aggregate((a, b) => a + b);
            result.Add(("graph_poisson", total / graph.Length * poisson));
        }
        if (normal != 0)
        {
            Tensor total = graph.Select((r, i) => GraphLosses.NormalBalance(loads[i], ((GraphRouter)r.Router).NormalSigma, settings.Form))
                                .Aggregate((a, b) => a + b);
            result.Add(("graph_normal", total / graph.Length * normal));
        }
        return result;
    }
}
