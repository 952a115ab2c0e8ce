using TorchSharp.Modules;
using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts;

/// <summary>One of the FFN's shared projections: the frozen <c>weight</c> plus every expert's LoRA on it
/// (<c>experts.{e}.lora_A.weight</c>, <c>experts.{e}.lora_B.weight</c>), as MoE-PEFT lays out MixLoRA.</summary>
public sealed class SharedExpertProjection : Projection
{
    private readonly ModuleList<LoraExpert> experts;

    /// <summary>A frozen [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] projection named <paramref name="name"/>
    /// with <paramref name="expertCount"/> LoRA experts of rank <paramref name="rank"/>.</summary>
    public SharedExpertProjection(int inFeatures, int outFeatures, int expertCount, int rank, string name) : base(name, inFeatures, outFeatures)
    {
        experts = new ModuleList<LoraExpert>();
        for (int e = 0; e < expertCount; e++) experts.Add(new LoraExpert(inFeatures, outFeatures, rank));
        RegisterComponents();
    }

    /// <summary>The experts' adapters.</summary>
    public ModuleList<LoraExpert> Experts => experts;

    /// <summary>The frozen projection alone.</summary>
    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight);

    /// <summary>[E*r, in]</summary>
    public Tensor StackedA() => ExpertStack.StackA(experts);
    /// <summary>[out, E*r]</summary>
    public Tensor StackedB() => ExpertStack.StackB(experts);
}
