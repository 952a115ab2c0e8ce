using System;
using System.Collections.Generic;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>E LoRA experts of one projection (MixLoRA's shared projections, MoLA's routed ones) held as two parameters, <c>lora_A</c> [E, r, in] and <c>lora_B</c> [E, out, r]:
/// expert e's A and B are the contiguous slices <c>lora_A[e]</c> and <c>lora_B[e]</c>. The mixture's executions read the
/// stacks as they are (a view, or the fused FFN's own layout change) instead of concatenating 2E tensors every forward and
/// copying their gradients back (about 1 ms a layer at the benchmark's quick shape, forward and backward); the optimizer
/// updates two tensors instead of 2E. Files keep one tensor per expert: <see cref="PerExpert"/> names the slices with the
/// MoE-PEFT / PEFT keys (<c>experts.{e}.lora_A.weight</c>, <c>experts.{e}.lora_B.weight</c>), for saving and loading alike.
/// Initialised expert by expert as <see cref="LoraPair.Create"/> does (A kaiming-uniform, B zeros), drawing the
/// same random numbers in the same order as E separate adapters.</summary>
public sealed class StackedLoraExperts : nn.Module
{
    private readonly Parameter lora_A;
    private readonly Parameter lora_B;

    /// <summary>Creates <paramref name="count"/> experts of rank <paramref name="rank"/> on an
    /// [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] projection.</summary>
    public StackedLoraExperts(int count, int inFeatures, int outFeatures, int rank) : base("experts")
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "a projection needs at least one expert");
        Tensor a = empty(count, rank, inFeatures), b = empty(count, outFeatures, rank);
        using (no_grad())
            for (int e = 0; e < count; e++)
            {
                var (ea, eb) = LoraPair.Create(inFeatures, outFeatures, rank);
                a[e].copy_(ea.weight!);
                b[e].copy_(eb.weight!);
                ea.Dispose();
                eb.Dispose();
            }
        lora_A = new Parameter(a);
        lora_B = new Parameter(b);
        Count = count;
        Rank = rank;
        RegisterComponents();
    }

    /// <summary>E.</summary>
    public int Count { get; }
    /// <summary>r.</summary>
    public int Rank { get; }
    /// <summary>[E, r, in]: every expert's A.</summary>
    public Parameter A => lora_A;
    /// <summary>[E, out, r]: every expert's B.</summary>
    public Parameter B => lora_B;

    /// <summary>Expert <paramref name="e"/>'s A [r, in] (a view of the stack).</summary>
    public Tensor ExpertA(int e) => lora_A[e];
    /// <summary>Expert <paramref name="e"/>'s B [out, r] (a view of the stack).</summary>
    public Tensor ExpertB(int e) => lora_B[e];
    /// <summary>[E*r, in]: every expert's A, one under the other (a view).</summary>
    public Tensor StackedA() => lora_A.view(-1, lora_A.shape[2]);
    /// <summary>[out, E*r]: every expert's B side by side (a copy), so that <c>x StackedA()^T StackedB()^T</c> sums the experts'
    /// deltas and a weighting of the r-blocks in between routes them.</summary>
    public Tensor StackedB() => lora_B.permute(1, 0, 2).reshape(lora_B.shape[1], -1);

    /// <summary>The per-expert entries of a stacked parameter called <paramref name="name"/> (a model parameter name
    /// ending in <c>experts.lora_A</c> or <c>experts.lora_B</c>): <c>experts.{e}.lora_A.weight</c> and so on, each a view of
    /// its slice (so that loading into it fills the stack). Any other name is returned as it is.</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> PerExpert(string name, Tensor tensor)
    {
        foreach (string part in new[] { "lora_A", "lora_B" })
        {
            string suffix = "experts." + part;
            if (!name.EndsWith(suffix, StringComparison.Ordinal) || (name.Length > suffix.Length && name[name.Length - suffix.Length - 1] != '.')) continue;
            string prefix = name.Substring(0, name.Length - part.Length);
            for (long e = 0; e < tensor.shape[0]; e++) yield return ($"{prefix}{e}.{part}.weight", tensor[e]);
            yield break;
        }
        yield return (name, tensor);
    }
}
