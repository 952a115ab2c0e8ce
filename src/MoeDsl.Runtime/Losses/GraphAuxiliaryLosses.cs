using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>GMoE's Poisson distinction and Normal balance losses over the Graph routers' decisions of one forward,
/// each averaged over the layers and multiplied by its coefficient (defaults 0.005 and 8, GMoE's config).</summary>
/// <remarks>By default both follow the reference code: the Normal target is normalised over all layers stacked
/// (<see cref="GraphLosses.NormalBalanceAcrossLayers"/>) and padding tokens count. A layer's reference term is then
/// <c>(1/L) sum_i q_i |log(q_i / c_i) - log L|</c> (q: its Normal target, c: its sorted normalised load): the 1/L scales
/// the coefficient, the <c>- log L</c> moves the minimum from c = q to c_i = q_i / L (docs/methods.md).
/// <see cref="GraphNormalScope.PerLayer"/> computes <c>sum_i q_i |log(q_i / c_i)|</c> per layer, averaged, times
/// Normal / L: the same weight on the same sum, without the shift, so a balance loss whose minimum is the target.
/// Each call adds this batch's load to every router's running load (<see cref="GraphRouter.AccumulateLoad"/>, only
/// when the router is in training mode), as GMoE does in its forward.</remarks>
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
        if (settings.CountPadding) tokenMask = null;

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
            Tensor[] sigmas = graph.Select(r => ((GraphRouter)r.Router).NormalSigma).ToArray();
            Tensor value = settings.NormalScope == GraphNormalScope.AcrossLayers
                ? GraphLosses.NormalBalanceAcrossLayers(loads, sigmas, settings.Form)
                : loads.Select((load, i) => GraphLosses.NormalBalance(load, sigmas[i], settings.Form)).Aggregate((a, b) => a + b) / graph.Length / graph.Length;
            result.Add(("graph_normal", value * normal));
        }
        return result;
    }
}
