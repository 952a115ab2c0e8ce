using System;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>GMoE's graph over E expert nodes plus one token node (node index E), built when the router is created and,
/// by default, again from the trained weights when an adapter is loaded (<see cref="GraphRouter.RebuildGraph"/>).</summary>
public static class ExpertGraph
{
    /// <summary>Expert-expert edges [E, E] (bool) as GMoE's <c>get_edges</c> finds them: |cosine similarity| of the
    /// projected expert features thresholded at y = 1.0, 0.99, 0.98, ... (the threshold lowered by 0.01 at a time) until
    /// the share of the E x E entries that are edges, diagonal included, reaches <paramref name="density"/>.</summary>
    /// <param name="projectedExperts">[E, g] fp32: act(W_expert X) of the current weights.</param>
    /// <param name="density">Target edge density rho in (0, 1].</param>
    public static Tensor ExpertEdges(Tensor projectedExperts, double density)
    {
        if (!(density > 0 && density <= 1)) throw new ArgumentOutOfRangeException(nameof(density), $"edge density {density} must be in (0, 1]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long e = projectedExperts.shape[0];
        Tensor unit = nn.functional.normalize(projectedExperts.to(ScalarType.Float32), p: 2, dim: 1);
        Tensor similarity = unit.matmul(unit.t()).abs();
        double threshold = 1.0;
        Tensor edges;
        while (true)
        {
            edges = similarity.ge(threshold);
            double share = edges.sum().item<long>() / (double)(e * e);
            threshold -= 0.01;
            if (share >= density) break;
        }
        return edges.MoveToOuterDisposeScope();
    }

    /// <summary>The symmetric-normalised adjacency with one self loop per node, <c>D^-1/2 (A + I) D^-1/2</c>, over the
    /// E expert nodes and the token node (index E), [E+1, E+1] fp32. A holds the expert-expert edges (their diagonal
    /// ignored: every node gets exactly one self loop of weight 1, as PyG's GCNConv does with fill_diag) and the token
    /// node linked to every expert both ways.</summary>
    public static Tensor NormalisedAdjacency(Tensor expertEdges)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long e = expertEdges.shape[0];
        Tensor a = zeros(e + 1, e + 1, dtype: ScalarType.Float32, device: expertEdges.device);
        a.narrow(0, 0, e).narrow(1, 0, e).copy_(expertEdges.to(ScalarType.Float32));
        a.narrow(0, e, 1).narrow(1, 0, e).fill_(1.0);
        a.narrow(0, 0, e).narrow(1, e, 1).fill_(1.0);
        a.diagonal().fill_(1.0);
        Tensor inverseRoot = a.sum(1).pow(-0.5);
        return (inverseRoot.unsqueeze(1) * a * inverseRoot.unsqueeze(0)).MoveToOuterDisposeScope();
    }
}
