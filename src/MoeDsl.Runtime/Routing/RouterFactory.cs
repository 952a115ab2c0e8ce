using System;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Runtime.Routing;

/// <summary>How a router's weight is first drawn, as each method's reference code does it.</summary>
/// <param name="NormalStd">&gt; 0: N(0, std); 0: nn.Linear's kaiming-uniform.</param>
public sealed record RouterInitialisation(double NormalStd)
{
    /// <summary>N(0, 0.02): MixLoRA's top-k and MoE-PEFT's dynamic (TopP) routers on the FFN.</summary>
    public static RouterInitialisation Normal002 { get; } = new(0.02);
    /// <summary>N(0, 1): MoE-PEFT's <c>router_init_range</c> for Switch.</summary>
    public static RouterInitialisation Normal1 { get; } = new(1.0);
    /// <summary>nn.Linear's default: MoLA's per-projection routers and LoRAMoE's (Soft).</summary>
    public static RouterInitialisation KaimingUniform { get; } = new(0.0);

    /// <summary>The initialisation of a linear router of this kind at this placement: the one table of it.</summary>
    public static RouterInitialisation For(RouterKind kind, ExpertPlacement placement) => kind switch
    {
        RouterKind.Switch => Normal1,
        RouterKind.Soft => KaimingUniform,
        _ => placement == ExpertPlacement.FeedForward ? Normal002 : KaimingUniform,
    };
}

/// <summary>Builds the router a declaration asks for at one site of one layer.</summary>
public static class RouterFactory
{
    /// <summary>A router over <paramref name="group"/>'s experts reading <paramref name="inFeatures"/> features. The Graph
    /// router is seeded by its layer, so a declaration always builds the same expert graph.</summary>
    public static Router Create(ModelSpec spec, ExpertGroup group, int inFeatures, int layer)
    {
        RouterSettings settings = spec.Router ?? throw new ArgumentException($"{spec.Name}: a mixture needs a router", nameof(spec));
        double std = RouterInitialisation.For(settings.Kind, spec.Placement).NormalStd;
        return settings switch
        {
            TopKRouterSettings s => new TopKRouter(inFeatures, group.Experts, group.TopK, s.JitterNoise, std),
            TopPRouterSettings s => new TopPRouter(inFeatures, group.Experts, s.P, s.JitterNoise, std),
            SwitchRouterSettings s => new SwitchRouter(inFeatures, group.Experts, s.CapacityFactor, s.JitterNoise, std),
            SoftRouterSettings s => new SoftRouter(inFeatures, group.Experts, s.JitterNoise, std),
            GraphRouterSettings s => new GraphRouter(inFeatures, group.Experts, group.TopK, s.Hidden, s.Layers, s.Density,
                spec.EffectiveGraphLosses!.Lambda, seed: layer),
            _ => throw new ArgumentException($"{spec.Name}: router {settings.Kind} has no factory", nameof(spec)),
        };
    }
}
