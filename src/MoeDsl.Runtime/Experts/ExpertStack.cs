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

    /// <summary>[E*2r, in]: for each expert e, its A on the first projection then its A on the second
    /// (<c>[A1_0; A2_0; A1_1; A2_1; ...]</c>), so that <c>x W^T</c> viewed as [T*E, 2r] holds row (t, e).</summary>
    public static Tensor StackInterleavedA(ModuleList<LoraExpert> first, ModuleList<LoraExpert> second)
    {
        var parts = new Tensor[2 * first.Count];
        for (int i = 0; i < first.Count; i++)
        {
            parts[2 * i] = first[i].A;
            parts[2 * i + 1] = second[i].A;
        }
        return cat(parts, 0);
    }

    /// <summary>[out, E*r]: the experts' B matrices side by side.</summary>
    public static Tensor StackB(ModuleList<LoraExpert> experts) => cat(experts.Select(e => (Tensor)e.B).ToArray(), 1);

    /// <summary>[E, out, r]: the experts' B matrices as blocks (one copy of contiguous tensors; its backward gives each expert
    /// a contiguous slice of the gradient, which the optimizer takes as is).</summary>
    public static Tensor StackBBlocks(ModuleList<LoraExpert> experts) => stack(experts.Select(e => (Tensor)e.B).ToArray());

    /// <summary>Scales each expert's r-block of <paramref name="xa"/> [..., E*r] by <paramref name="weights"/> [..., E]
    /// (leading dimensions broadcast); returns [..., E*r].</summary>
    public static Tensor WeightBlocks(Tensor xa, Tensor weights, int experts, int rank)
    {
        long[] shape = xa.shape;
        long[] blocked = shape.Take(shape.Length - 1).Concat(new long[] { experts, rank }).ToArray();
        return (xa.view(blocked) * weights.unsqueeze(-1)).flatten(-2);
    }
}
