using System;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>One LoRA adapter: <c>lora_A.weight</c> [r, in] (kaiming-uniform, as PEFT) and <c>lora_B.weight</c> [out, r]
/// (zeros), in fp32.</summary>
public sealed class LoraExpert : nn.Module
{
    private readonly Linear lora_A;
    private readonly Linear lora_B;

    /// <summary>Creates the adapter.</summary>
    public LoraExpert(int inFeatures, int outFeatures, int rank, string name = "expert") : base(name)
    {
        (lora_A, lora_B) = CreatePair(inFeatures, outFeatures, rank);
        RegisterComponents();
    }

    /// <summary>The A/B pair of a LoRA adapter, initialised as PEFT does (A kaiming-uniform a=sqrt(5), B zeros), fp32.</summary>
    public static (Linear A, Linear B) CreatePair(int inFeatures, int outFeatures, int rank)
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

    /// <summary>A [r, in].</summary>
    public Parameter A => lora_A.weight!;
    /// <summary>B [out, r].</summary>
    public Parameter B => lora_B.weight!;
}
