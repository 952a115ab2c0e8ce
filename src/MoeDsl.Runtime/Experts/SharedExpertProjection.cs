using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts;

/// <summary>One of the FFN's shared projections: the frozen <c>weight</c> plus every expert's LoRA on it, stacked
/// (<see cref="StackedLoraExperts"/>: parameters <c>experts.lora_A</c> [E, r, in] and <c>experts.lora_B</c> [E, out, r]; in
/// adapter files <c>experts.{e}.lora_A.weight</c> and <c>experts.{e}.lora_B.weight</c>, as MoE-PEFT lays out MixLoRA).</summary>
public sealed class SharedExpertProjection : Projection
{
    private readonly StackedLoraExperts experts;

    /// <summary>A frozen [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] projection named <paramref name="name"/>
    /// with <paramref name="expertCount"/> LoRA experts of rank <paramref name="rank"/>.</summary>
    public SharedExpertProjection(int inFeatures, int outFeatures, int expertCount, int rank, string name) : base(name, inFeatures, outFeatures)
    {
        experts = new StackedLoraExperts(expertCount, inFeatures, outFeatures, rank);
        RegisterComponents();
    }

    /// <summary>The experts' adapters, stacked.</summary>
    public StackedLoraExperts Experts => experts;

    /// <summary>The frozen projection alone.</summary>
    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight);

    /// <summary>[E*2r, in]: for each expert e, its A on <paramref name="first"/> then its A on <paramref name="second"/>
    /// (<c>[A1_0; A2_0; A1_1; A2_1; ...]</c>), so that <c>x W^T</c> viewed as [T*E, 2r] holds row (t, e).</summary>
    public static Tensor InterleavedA(SharedExpertProjection first, SharedExpertProjection second)
        => cat(new Tensor[] { first.experts.A, second.experts.A }, 1).view(-1, first.InFeatures);
}
