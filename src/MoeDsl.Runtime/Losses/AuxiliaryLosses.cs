using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>Turns one forward's routing records into the declared auxiliary losses, each already multiplied by its coefficient.</summary>
public static class AuxiliaryLosses
{
    /// <summary>Computes the losses the declaration asks for. <paramref name="tokenMask"/> [B, L] or null.</summary>
    public static IReadOnlyList<(string Name, Tensor Value)> Compute(ModelSpec spec, IReadOnlyList<RoutingRecord> records, Tensor? tokenMask)
    {
        var result = new List<(string, Tensor)>();
        if (records.Count == 0) return result;
        Tensor? mask = tokenMask?.reshape(-1);

        if (spec.LoadBalance is double coef)
        {
            if (spec.Placement == ExpertPlacement.FeedForward && records.Select(r => r.Decision.ExpertCount).Distinct().Count() == 1)
            {
                // MixLoRA: logits of all layers pooled (Mixtral's load_balancing_loss_func over the concatenated layers).
                Tensor probs = cat(records.Select(r => r.Decision.Probs).ToArray(), 0);
                Tensor experts = cat(records.Select(r => r.Decision.Experts).ToArray(), 0);
                Tensor used = cat(records.Select(r => SlotsCounted(spec, r.Decision)).ToArray(), 0);
                Tensor? pooledMask = mask is null ? null : cat(Enumerable.Repeat(mask, records.Count).ToArray(), 0);
                result.Add(("load_balance", LoadBalanceLoss.Mixtral(probs, experts, used, pooledMask) * coef));
            }
            else
            {
                // MoLA: per layer, the decisions of all its projections pooled; summed over layers. Padding tokens count, as
                // in MoLA's load_balancing_loss_func (it receives the router logits of every position and no attention mask).
                Tensor? total = null;
                foreach (var group in records.GroupBy(r => r.Layer))
                {
                    var rs = group.ToArray();
                    Tensor probs = cat(rs.Select(r => r.Decision.Probs).ToArray(), 0);
                    Tensor experts = cat(rs.Select(r => r.Decision.Experts).ToArray(), 0);
                    Tensor used = cat(rs.Select(r => SlotsCounted(spec, r.Decision)).ToArray(), 0);
                    Tensor layerLoss = LoadBalanceLoss.Mola(probs, experts, used, tokenMask: null);
                    total = total is null ? layerLoss : total + layerLoss;
                }
                result.Add(("load_balance", total! * coef));
            }
        }

        if (spec.Router is SwitchRouterSettings { ZLossCoefficient: > 0 } switchRouter)
        {
            Tensor z = records.Select(r => RouterZLoss.Compute(r.Decision.Logits, mask)).Aggregate((a, b) => a + b) / records.Count;
            result.Add(("router_z", z * switchRouter.ZLossCoefficient));
        }

        if (spec.Router is GraphRouterSettings)
            result.AddRange(GraphAuxiliaryLosses.Compute(spec, records, mask));

        return result;
    }

    /// <summary>[T, S] 1 for the slots the load-balance f counts: the used ones (weight &gt; 0), except for Switch, where
    /// MoE-PEFT counts every token's top-1 choice whether or not it fit in the expert's capacity.</summary>
    private static Tensor SlotsCounted(ModelSpec spec, RoutingDecision decision)
        => spec.Router is SwitchRouterSettings ? ones_like(decision.Weights) : decision.Weights.gt(0).to(ScalarType.Float32);
}
