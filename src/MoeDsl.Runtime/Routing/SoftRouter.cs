using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>LoRAMoE's dense router: linear (no bias, fp32) + softmax; every expert is used with its probability as the
/// weight (S = E, slot e is expert e). State-dict key <c>moe_gate.weight</c> [E, d].</summary>
/// <remarks>LoRAMoE (MoE-PEFT <c>LoraMoe</c>) initialises the gate kaiming-uniform: pass <c>initStd: 0</c> for it.</remarks>
public sealed class SoftRouter : Router
{
    private readonly Parameter weight;

    /// <summary>Creates the router; <paramref name="initStd"/> &gt; 0 draws N(0, std), 0 keeps kaiming-uniform (LoRAMoE).</summary>
    public SoftRouter(int inFeatures, int experts, double jitterNoise = 0, double initStd = 0.02)
        : base("moe_gate", experts, jitterNoise)
    {
        weight = RouterWeights.Create(inFeatures, experts, initStd);
        RegisterComponents();
    }

    /// <summary>The router weight [E, d] (state-dict key <c>moe_gate.weight</c>).</summary>
    public Parameter Weight => weight;

    /// <inheritdoc />
    public override RoutingDecision forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor logits = nn.functional.linear(RouterInput(x), weight);
        Tensor probs = logits.softmax(-1);
        Tensor experts = arange(Experts, dtype: ScalarType.Int64, device: probs.device).expand(probs.shape[0], Experts).contiguous();
        return new RoutingDecision(logits, probs, experts, probs.alias()).MoveToOuterDisposeScope();
    }
}
