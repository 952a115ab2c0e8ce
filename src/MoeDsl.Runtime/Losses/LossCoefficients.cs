using System;
using System.Collections.Generic;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Runtime.Losses;

/// <summary>Coefficients of the auxiliary losses for one training run in place of the declared ones (null keeps the
/// declaration's). Only a loss the declaration has can be given a coefficient: <see cref="LoadBalance"/> needs
/// <c>[LoadBalance]</c>, <see cref="RouterZLoss"/> a Switch router, <see cref="GraphPoisson"/> and
/// <see cref="GraphNormal"/> a Graph router. A generated class's <c>TrainingOptions</c> carries exactly the ones its
/// declaration has, with the declared values as defaults.</summary>
public sealed record LossCoefficients
{
    /// <summary>Load-balance coefficient (MixLoRA's Mixtral form or MoLA's per-layer form, as declared).</summary>
    public double? LoadBalance { get; init; }
    /// <summary>Switch router z-loss coefficient.</summary>
    public double? RouterZLoss { get; init; }
    /// <summary>GMoE's Poisson distinction coefficient (0 turns the loss off).</summary>
    public double? GraphPoisson { get; init; }
    /// <summary>GMoE's Normal balance coefficient (0 turns the loss off).</summary>
    public double? GraphNormal { get; init; }

    /// <summary><paramref name="spec"/> with these coefficients in place of its own. Throws <see cref="ArgumentException"/>
    /// naming the coefficient when the declaration has no such loss, or when a value is negative or not finite.</summary>
    public ModelSpec ApplyTo(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ModelSpec result = spec;
        if (LoadBalance is double lb)
        {
            if (spec.LoadBalance is null) throw Missing(spec, nameof(LoadBalance), "declares no [LoadBalance]; declare it to train with a load-balance loss");
            result = result with { LoadBalance = Checked(nameof(LoadBalance), lb) };
        }
        if (RouterZLoss is double z)
        {
            if (spec.Router is not SwitchRouterSettings sw) throw Missing(spec, nameof(RouterZLoss), "has no Switch router, so it has no router z-loss");
            result = result with { Router = sw with { ZLossCoefficient = Checked(nameof(RouterZLoss), z) } };
        }
        if (GraphPoisson is not null || GraphNormal is not null)
        {
            GraphLossSettings graph = spec.EffectiveGraphLosses
                ?? throw Missing(spec, GraphPoisson is null ? nameof(GraphNormal) : nameof(GraphPoisson), "has no Graph router, so it has no GMoE losses");
            result = result with
            {
                GraphLosses = graph with
                {
                    Poisson = GraphPoisson is double p ? Checked(nameof(GraphPoisson), p) : graph.Poisson,
                    Normal = GraphNormal is double n ? Checked(nameof(GraphNormal), n) : graph.Normal,
                },
            };
        }
        return result;
    }

    /// <summary>The coefficients in effect for <paramref name="spec"/> (these in place of the declared ones), by the names
    /// a checkpoint records them under: <c>load-balance</c>, <c>router-z-loss</c>, <c>graph-poisson</c>,
    /// <c>graph-normal</c>; only the losses the declaration has.</summary>
    public static IReadOnlyDictionary<string, string> Effective(ModelSpec spec, LossCoefficients? coefficients)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ModelSpec s = coefficients?.ApplyTo(spec) ?? spec;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (s.LoadBalance is double lb) result["load-balance"] = TrainingSettings.Number(lb);
        if (s.Router is SwitchRouterSettings sw) result["router-z-loss"] = TrainingSettings.Number(sw.ZLossCoefficient);
        if (s.EffectiveGraphLosses is GraphLossSettings g)
        {
            result["graph-poisson"] = TrainingSettings.Number(g.Poisson);
            result["graph-normal"] = TrainingSettings.Number(g.Normal);
        }
        return result;
    }

    /// <summary>The names <see cref="Effective"/> uses, in the order changes are named.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "load-balance", "router-z-loss", "graph-poisson", "graph-normal" };

    private static double Checked(string name, double value)
        => value >= 0 && double.IsFinite(value) ? value : throw new ArgumentException($"{name} must be a finite number >= 0 (got {TrainingSettings.Number(value)})", name);

    private static ArgumentException Missing(ModelSpec spec, string name, string why)
        => new($"{name}: {spec.Name} {why}", name);

}
