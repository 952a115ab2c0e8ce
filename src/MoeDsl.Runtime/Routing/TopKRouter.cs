using System;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>Linear router (no bias, fp32) + softmax + top-k, weights renormalised to sum 1.</summary>
public sealed class TopKRouter : Router
{
    private readonly Parameter weight;

    /// <summary>Creates the router; <paramref name="initStd"/> &gt; 0 draws the weight from N(0, std) as MixLoRA does,
    /// 0 keeps nn.Linear's default (kaiming-uniform) as MoLA does.</summary>
    public TopKRouter(int inFeatures, int experts, int topK, double jitterNoise = 0, double initStd = 0.02)
        : base("moe_gate", experts, jitterNoise)
    {
        if (topK < 1 || topK > experts) throw new ArgumentOutOfRangeException(nameof(topK), $"top-k {topK} must be in [1, {experts}]");
        TopK = topK;
        weight = RouterWeights.Create(inFeatures, experts, initStd);
        RegisterComponents();
    }

    /// <summary>Experts chosen per token.</summary>
    public int TopK { get; }

    /// <summary>The router weight [E, d] (state-dict key <c>moe_gate.weight</c>).</summary>
    public Parameter Weight => weight;

    /// <inheritdoc />
    public override RoutingDecision forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor logits = nn.functional.linear(RouterInput(x), weight);
        Tensor probs = logits.softmax(-1);
        var (experts, weights) = TopKRenormalised(probs, TopK);
        return new RoutingDecision(logits, probs, experts, weights).MoveToOuterDisposeScope();
    }
}

/// <summary>Shared initialisation of router weight matrices.</summary>
public static class RouterWeights
{
    /// <summary>An fp32 [experts, inFeatures] parameter, N(0, std) when std &gt; 0, else kaiming-uniform like nn.Linear.</summary>
    public static Parameter Create(int inFeatures, int experts, double initStd)
    {
        using var _ = no_grad();
        Tensor w = empty(experts, inFeatures, dtype: ScalarType.Float32);
        if (initStd > 0) nn.init.normal_(w, 0.0, initStd);
        else nn.init.kaiming_uniform_(w, Math.Sqrt(5));
        return new Parameter(w, requires_grad: true);
    }
}
