using System.Linq;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts;

/// <summary>The dense-masked execution of E LoRA experts of rank r on one projection: with all A stacked as one [E*r, in]
/// matrix (<see cref="Lora.StackedLoraExperts.StackedA"/>) <c>x A_all^T</c> is one GEMM; the r-blocks of experts a token
/// did not choose are zeroed by the routing weights (<see cref="WeightBlocks"/>); one GEMM with the stacked B [out, E*r]
/// gives the weighted sum of deltas. Static shapes, no sort, no gather, no host synchronisation.</summary>
public static class ExpertStack
{
    /// <summary>Scales each expert's r-block of <paramref name="xa"/> [..., E*r] by <paramref name="weights"/> [..., E]
    /// (leading dimensions broadcast); returns [..., E*r].</summary>
    public static Tensor WeightBlocks(Tensor xa, Tensor weights, int experts, int rank)
    {
        long[] shape = xa.shape;
        long[] blocked = shape.Take(shape.Length - 1).Concat(new long[] { experts, rank }).ToArray();
        return (xa.view(blocked) * weights.unsqueeze(-1)).flatten(-2);
    }
}
