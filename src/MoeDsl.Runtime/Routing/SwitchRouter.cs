using System;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>Switch Transformer routing as MoE-PEFT's "mixlora-switch": linear (no bias, fp32) + softmax, top-1, weight =
/// the top-1 probability (not renormalised); each expert takes at most <see cref="CapacityFor"/> tokens per sequence,
/// first come by position, and a token over capacity gets weight 0 (its FFN output is 0, the residual carries it).
/// S = 1. State-dict key <c>moe_gate.weight</c> [E, d]. The z-loss is <see cref="Losses.RouterZLoss"/>.</summary>
/// <remarks>The capacity is counted with a cumulative sum of the one-hot choices along the sequence, on the device.</remarks>
public sealed class SwitchRouter : Router
{
    private readonly Parameter weight;

    /// <summary>Creates the router.</summary>
    /// <param name="inFeatures">Router input width d.</param>
    /// <param name="experts">Number of experts E.</param>
    /// <param name="capacityFactor">Capacity per expert and sequence = ceil(capacityFactor * L / E).</param>
    /// <param name="jitterNoise">Multiplicative input jitter while training (MoE-PEFT's switch default is 0.01).</param>
    /// <param name="initStd">N(0, std) initialisation (MoE-PEFT's switch default router_init_range is 1.0).</param>
    /// <param name="expertCapacity">A fixed capacity per expert and sequence, as MoE-PEFT's <c>expert_capacity</c>
    /// (default 32 there); 0 derives it from <paramref name="capacityFactor"/>.</param>
    public SwitchRouter(int inFeatures, int experts, double capacityFactor, double jitterNoise = 0, double initStd = 0.02, int expertCapacity = 0)
        : base("moe_gate", experts, jitterNoise)
    {
        if (!(capacityFactor > 0)) throw new ArgumentOutOfRangeException(nameof(capacityFactor), $"capacity factor {capacityFactor} must be > 0");
        if (expertCapacity < 0) throw new ArgumentOutOfRangeException(nameof(expertCapacity), $"expert capacity {expertCapacity} must be >= 0 (0 = from the capacity factor)");
        CapacityFactor = capacityFactor;
        ExpertCapacity = expertCapacity;
        weight = RouterWeights.Create(inFeatures, experts, initStd);
        RegisterComponents();
    }

    /// <summary>The capacity factor.</summary>
    public double CapacityFactor { get; }

    /// <summary>The fixed capacity (0 = from the capacity factor).</summary>
    public int ExpertCapacity { get; }

    /// <summary>The router weight [E, d] (state-dict key <c>moe_gate.weight</c>).</summary>
    public Parameter Weight => weight;

    /// <summary>Tokens each expert takes per sequence of <paramref name="sequenceLength"/> tokens.</summary>
    /// <remarks>ceil(capacityFactor * L / E), with products within 1e-9 of an integer taken as that integer so that
    /// e.g. 1.1 * 10 / 11 gives 1, not 2.</remarks>
    public long CapacityFor(long sequenceLength)
        => ExpertCapacity > 0 ? ExpertCapacity : (long)Math.Ceiling(CapacityFactor * sequenceLength / Experts - 1e-9);

    /// <summary>Routes x [B, L, d] (a 2-D [L, d] input is one sequence).</summary>
    public override RoutingDecision forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long length = x.dim() >= 3 ? x.shape[^2] : x.shape[0];
        long sequences = x.numel() / x.shape[^1] / length;
        Tensor logits = nn.functional.linear(RouterInput(x), weight);          // [T, E]
        Tensor probs = logits.softmax(-1);
        var (top, expert) = probs.max(-1, keepdim: true);                      // [T, 1]
        Tensor oneHot = nn.functional.one_hot(expert.squeeze(-1), Experts).view(sequences, length, Experts);
        // 1-based arrival order of each token at its expert within its sequence.
        Tensor arrival = (oneHot.cumsum(1) * oneHot).sum(-1).reshape(-1, 1);
        Tensor weights = top * arrival.le(CapacityFor(length)).to(ScalarType.Float32);
        return new RoutingDecision(logits, probs, expert, weights).MoveToOuterDisposeScope();
    }
}
