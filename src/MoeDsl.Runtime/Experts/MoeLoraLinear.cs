using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts;

/// <summary>MoLA's projection (EveryProjection placement): <c>h = W x + sum_{i in S} w_i (alpha/r) B_i A_i dropout(x)</c>,
/// routed on its own input by its own router. Parameters: <c>weight</c> (frozen), <c>moe_gate.*</c>, the experts stacked as
/// <c>experts.lora_A</c> [E, r, in] and <c>experts.lora_B</c> [E, out, r] (<see cref="StackedLoraExperts"/>); adapter-file
/// keys <c>experts.{e}.lora_A.weight</c>, <c>experts.{e}.lora_B.weight</c>.</summary>
public sealed class MoeLoraLinear : Projection
{
    private readonly Router moe_gate;
    private readonly StackedLoraExperts experts;
    private readonly LoraSettings lora;
    private readonly RoutingRecorder recorder;
    private readonly int layer;
    private readonly string site;

    /// <summary>A frozen [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] projection with <paramref name="expertCount"/>
    /// LoRA experts chosen per token by <paramref name="router"/>; <paramref name="site"/> is its state-dict name and names
    /// it in the routing records of layer <paramref name="layer"/> (e.g. "q_proj").</summary>
    public MoeLoraLinear(int inFeatures, int outFeatures, int expertCount, LoraSettings lora, Router router, RoutingRecorder recorder, int layer, string site, bool hasBias = false)
        : base(site, inFeatures, outFeatures, hasBias)
    {
        moe_gate = router;
        experts = new StackedLoraExperts(expertCount, inFeatures, outFeatures, lora.Rank);
        this.lora = lora;
        this.recorder = recorder;
        this.layer = layer;
        this.site = site;
        ExpertCount = expertCount;
        RegisterComponents();
    }

    /// <summary>Number of experts.</summary>
    public int ExpertCount { get; }
    /// <summary>The router.</summary>
    public Router Router => moe_gate;
    /// <summary>The experts, stacked.</summary>
    public StackedLoraExperts Experts => experts;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor baseOut = BaseLinear(x);
        RoutingDecision decision = moe_gate.forward(x);
        Tensor xa = nn.functional.linear(LoraInput(x, lora.Dropout), experts.StackedA());          // [B, L, E*r]
        Tensor dense = decision.DenseWeights().view(xa.shape[0], xa.shape[1], ExpertCount);                 // [B, L, E]
        Tensor delta = nn.functional.linear(ExpertStack.WeightBlocks(xa, dense, ExpertCount, lora.Rank), experts.StackedB());
        Tensor result = baseOut + (delta * lora.Scaling).to(baseOut.dtype);
        recorder.Add(layer, site, moe_gate, decision);
        return result.MoveToOuterDisposeScope();
    }
}
