using System.Linq;
using MoeDsl.Runtime.Lora;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts;

/// <summary>The dense-masked execution of E LoRA experts of rank r on one projection:
/// all A stacked as one [E*r, in] matrix so <c>x A_all^T</c> is one GEMM; the r-blocks of experts a token did not
/// choose are zeroed by the routing weights; one GEMM with the stacked B [out, E*r] gives the weighted sum of deltas.
/// Static shapes, no sort, no gather, no host synchronisation.</summary>
public static class ExpertStack
{
    /// <summary>[E*r, in]: the experts' A matrices stacked.</summary>
    public static Tensor StackA(ModuleList<LoraExpert> experts) => cat(experts.Select(e => (Tensor)e.A).ToArray(), 0);

    /// <summary>[out, E*r]: the experts' B matrices side by side.</summary>
    public static Tensor StackB(ModuleList<LoraExpert> experts) => cat(experts.Select(e => (Tensor)e.B).ToArray(), 1);

    /// <summary>Scales each expert's r-block of <paramref name="xa"/> [..., E*r] by <paramref name="weights"/> [..., E]
    /// (leading dimensions broadcast); returns [..., E*r].</summary>
    public static Tensor WeightBlocks(Tensor xa, Tensor weights, int experts, int rank)
    {
        long[] shape = xa.shape;
        long[] blocked = shape.Take(shape.Length - 1).Concat(new long[] { experts, rank }).ToArray();
        return (xa.view(blocked) * weights.unsqueeze(-1)).flatten(-2);
    }
}
