using System;
using System.Collections.Generic;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>GMoE's Poisson distinction and Normal balance losses over the Graph routers' decisions.</summary>
public static class GraphAuxiliaryLosses
{
    /// <summary>Computes the weighted GMoE losses. (Implemented with the Graph router; see issue #3.)</summary>
    public static IReadOnlyList<(string Name, Tensor Value)> Compute(ModelSpec spec, IReadOnlyList<RoutingRecord> records, Tensor? tokenMask)
        => throw new NotSupportedException("The Graph router's losses are not available in this build (issue #3).");
}
