using System;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>MoE-PEFT's dynamic ("mixlora-dynamic") router: linear (no bias, fp32) + softmax, probabilities sorted
/// descending, and every expert kept up to and including the first one at which the cumulative probability exceeds
/// <see cref="TopP"/> (always at least one). Kept weights are the probabilities themselves, NOT renormalised.
/// S = E slots in sorted order; dropped slots carry weight 0. State-dict key <c>moe_gate.weight</c> [E, d].</summary>
/// <remarks>Mirrors <c>_dynamic_top_p</c>: the cut is the first sorted position whose cumulative sum is strictly greater
/// than p, and when none is (p = 1 or rounding) every expert is kept. With <see cref="Temperature"/> &gt; 0 the
/// probabilities are divided by it before the cut and the divided values are the weights, exactly as the reference does
/// (MoE-PEFT's default, and ours, is 0 = off).</remarks>
public sealed class TopPRouter : Router
{
    private readonly Parameter weight;

    /// <summary>Creates the router.</summary>
    /// <param name="inFeatures">Router input width d.</param>
    /// <param name="experts">Number of experts E.</param>
    /// <param name="topP">The cumulative-probability threshold p in (0, 1] (MoE-PEFT default 0.8).</param>
    /// <param name="jitterNoise">Multiplicative input jitter while training.</param>
    /// <param name="initStd">N(0, std) initialisation (MoE-PEFT router_init_range 0.02); 0 = kaiming-uniform.</param>
    /// <param name="temperature">MoE-PEFT's temperature: probabilities divided by it before the cut; 0 = off.</param>
    public TopPRouter(int inFeatures, int experts, double topP, double jitterNoise = 0, double initStd = 0.02, double temperature = 0)
        : base("moe_gate", experts, jitterNoise)
    {
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP), $"top-p {topP} must be in (0, 1]");
        if (!(temperature >= 0)) throw new ArgumentOutOfRangeException(nameof(temperature), $"temperature {temperature} must be >= 0 (0 = off)");
        TopP = topP;
        Temperature = temperature;
        weight = RouterWeights.Create(inFeatures, experts, initStd);
        RegisterComponents();
    }

    /// <summary>The cumulative-probability threshold p.</summary>
    public double TopP { get; }

    /// <summary>The temperature (0 = off).</summary>
    public double Temperature { get; }

    /// <summary>The router weight [E, d] (state-dict key <c>moe_gate.weight</c>).</summary>
    public Parameter Weight => weight;

    /// <inheritdoc />
    public override RoutingDecision forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor logits = nn.functional.linear(RouterInput(x), weight);
        Tensor probs = logits.softmax(-1);
        Tensor scaled = Temperature > 0 ? probs / Temperature : probs;
        var (sorted, experts) = scaled.sort(-1, descending: true);
        Tensor cumulative = sorted.cumsum(-1);
        // Slot i is kept iff the cumulative sum before it, cumulative[i - 1], is <= p: i.e. i is at or before the first
        // position where the cumulative sum exceeds p. Shifting the inclusive sum keeps its exact fp32 values.
        Tensor before = cat(new[] { zeros_like(cumulative.narrow(-1, 0, 1)), cumulative.narrow(-1, 0, cumulative.shape[^1] - 1) }, -1);
        Tensor weights = sorted * before.le(TopP).to(ScalarType.Float32);
        return new RoutingDecision(logits, probs, experts, weights).MoveToOuterDisposeScope();
    }
}
