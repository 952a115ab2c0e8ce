using System;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>The A/B pair of one LoRA adapter as PEFT creates it: <c>lora_A</c> [r, in] kaiming-uniform (a = sqrt(5)),
/// <c>lora_B</c> [out, r] zeros, fp32. Plain LoRA keeps the pair (<see cref="LoraLinear"/>); the mixtures copy each
/// expert's pair into their stacks (<see cref="StackedLoraExperts"/>), so both draw the same random numbers.</summary>
public static class LoraPair
{
    /// <summary>Creates the pair.</summary>
    public static (Linear A, Linear B) Create(int inFeatures, int outFeatures, int rank)
    {
        Linear a = nn.Linear(inFeatures, rank, hasBias: false, dtype: ScalarType.Float32);
        Linear b = nn.Linear(rank, outFeatures, hasBias: false, dtype: ScalarType.Float32);
        using (no_grad())
        {
            nn.init.kaiming_uniform_(a.weight!, Math.Sqrt(5));
            nn.init.zeros_(b.weight!);
        }
        return (a, b);
    }
}
