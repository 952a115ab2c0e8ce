using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>GMoE's two strategies as pure functions (unweighted), mirroring <c>_GoE_route_loss_func</c> and
/// <c>_GoE_count_loss_func</c> of BAI-LAB/GMoE.</summary>
public static class GraphLosses
{
    /// <summary>eps added to the sorted routing probabilities in the Poisson distinction loss.</summary>
    public const double PoissonEpsilon = 1e-16;
    /// <summary>eps added to the normalised expert load in the Normal balance loss.</summary>
    public const double NormalEpsilon = 1e-8;
    /// <summary>Beyond this many experts the Poisson target repeats its 32nd value (as the reference does).</summary>
    public const int PoissonTail = 32;

    /// <summary>Target [E]: Poisson(i; clamp(lambda, 1, 2)) at i = 1..E (values past i = 32 equal the one at 32),
    /// normalised to sum 1.</summary>
    public static Tensor PoissonTarget(Tensor lambda, int experts)
    {
        using var scope = NewDisposeScope();
        Tensor rate = lambda.to(ScalarType.Float32).clamp(1.0, 2.0);
        Tensor k = arange(1, experts + 1, dtype: ScalarType.Float32, device: lambda.device);
        Tensor p = (k * rate.log() - rate - (k + 1).lgamma()).exp();
        if (experts > PoissonTail)
            p = cat(new[] { p.narrow(0, 0, PoissonTail), p.narrow(0, PoissonTail - 1, 1).expand(experts - PoissonTail) }, 0);
        return (p / p.sum()).MoveToOuterDisposeScope();
    }

    /// <summary>Smallest sigma the Normal target uses: sigma is clamped to it where used (its gradient is 0 below). The
    /// reference holds sigma learnable and unbounded; at lr 5e-3 it drifts from E/2 toward 0 (the main job's --full:
    /// 4 to 0.38 in 900 steps) and the reference's float32 target <c>exp(log_prob)</c> underflows to 0 once
    /// (E/2)^2 / (2 sigma^2) > 104, which makes its loss NaN (0 * log 0) well before sigma reaches 0, where torch's
    /// <c>Normal</c> refuses the scale. 0.05 is below that point for every E >= 2 (E = 2 underflows below 0.069), so the
    /// clamp changes no value the reference computes finitely.</summary>
    public const double NormalSigmaFloor = 0.05;

    /// <summary>Target [E]: the Normal(E/2, sigma) pdf at i = 0..E-1 normalised to sum 1, sorted descending.</summary>
    public static Tensor NormalTarget(Tensor sigma, int experts)
    {
        using var scope = NewDisposeScope();
        return SortedLogTarget(sigma, experts).exp().MoveToOuterDisposeScope();
    }

    /// <summary>The log of <see cref="NormalTarget"/> [E]: the log pdf normalised to sum 1 in log space, sorted descending.</summary>
    private static Tensor SortedLogTarget(Tensor sigma, int experts)
    {
        using var scope = NewDisposeScope();
        Tensor logPdf = NormalLogPdf(sigma, experts);
        return (logPdf - logPdf.logsumexp(0, keepdim: true)).sort(-1, descending: true).Values.MoveToOuterDisposeScope();
    }

    /// <summary>The log of the Normal(E/2, sigma) pdf at i = 0..E-1 [E] (fp32, sigma clamped to
    /// <see cref="NormalSigmaFloor"/>). The target is normalised in log space: the same values as the reference's
    /// <c>exp(log_prob)</c> then divide wherever that is finite, and finite (0, not NaN) where its exp underflows.</summary>
    private static Tensor NormalLogPdf(Tensor sigma, int experts)
    {
        using var scope = NewDisposeScope();
        Tensor scale = sigma.to(ScalarType.Float32).clamp_min(NormalSigmaFloor);
        double mu = experts / 2.0;
        Tensor i = arange(0, experts, dtype: ScalarType.Float32, device: sigma.device);
        Tensor logPdf = -(i - mu).pow(2) / (2 * scale.pow(2)) - scale.log() - Math.Log(Math.Sqrt(2 * Math.PI));
        return logPdf.MoveToOuterDisposeScope();
    }

    /// <summary><see cref="Divergence"/> with the target given by its log [.., E] (already normalised): the target's
    /// entries that are 0 in float32 contribute 0 instead of 0 * log 0.</summary>
    private static Tensor DivergenceOfLogTarget(Tensor logTarget, Tensor actual, double eps, GraphLossForm form)
    {
        using var scope = NewDisposeScope();
        Tensor log = logTarget - (actual + eps).log();
        if (form == GraphLossForm.AbsLog) log = log.abs();
        return (logTarget.exp() * log).sum(-1).MoveToOuterDisposeScope();
    }

    /// <summary><c>sum_i target_i * |log(target_i / (actual_i + eps))|</c> (AbsLog) or without the absolute value (KL),
    /// over the last dimension.</summary>
    public static Tensor Divergence(Tensor target, Tensor actual, double eps, GraphLossForm form)
    {
        using var scope = NewDisposeScope();
        Tensor log = (target / (actual + eps)).log();
        if (form == GraphLossForm.AbsLog) log = log.abs();
        return (target * log).sum(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Poisson distinction of one layer: each token's probabilities [T, E] sorted descending against
    /// <see cref="PoissonTarget"/>, averaged over the tokens (<paramref name="tokenMask"/> [T]: non-padding ones only).</summary>
    public static Tensor PoissonDistinction(Tensor probs, Tensor lambda, Tensor? tokenMask, GraphLossForm form)
    {
        using var scope = NewDisposeScope();
        Tensor target = PoissonTarget(lambda, (int)probs.shape[1]);
        Tensor sorted = probs.sort(-1, descending: true).Values;
        Tensor perToken = Divergence(target.unsqueeze(0), sorted, PoissonEpsilon, form);                 // [T]
        Tensor result = tokenMask is null
            ? perToken.mean()
            : (perToken * tokenMask.to(ScalarType.Float32)).sum() / tokenMask.to(ScalarType.Float32).sum().clamp_min(1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Normal balance of one layer: the load [E] sorted descending and normalised against
    /// <see cref="NormalTarget"/>.</summary>
    public static Tensor NormalBalance(Tensor load, Tensor sigma, GraphLossForm form)
    {
        using var scope = NewDisposeScope();
        Tensor logTarget = SortedLogTarget(sigma, (int)load.shape[0]);
        Tensor sorted = load.sort(-1, descending: true).Values;
        return DivergenceOfLogTarget(logTarget, sorted / sorted.sum(), NormalEpsilon, form).MoveToOuterDisposeScope();
    }

    /// <summary>Normal balance of all routed layers as the reference code computes it (<c>_GoE_count_loss_func</c> on the
    /// layers stacked): every layer's pdf (its own sigma, mu = E/2) divided by ONE sum over all layers' pdf values, so a
    /// layer's target sums to about 1/L; each sorted descending against that layer's load sorted and normalised to sum 1;
    /// the divergences averaged over the layers. <paramref name="loads"/>[l] is [E_l], <paramref name="sigmas"/>[l] a scalar.</summary>
    public static Tensor NormalBalanceAcrossLayers(IReadOnlyList<Tensor> loads, IReadOnlyList<Tensor> sigmas, GraphLossForm form)
    {
        if (loads.Count == 0 || loads.Count != sigmas.Count)
            throw new ArgumentException($"one sigma per layer's load is needed, got {loads.Count} loads and {sigmas.Count} sigmas");
        using var scope = NewDisposeScope();
        Tensor[] logPdfs = loads.Select((load, l) => NormalLogPdf(sigmas[l], (int)load.shape[0])).ToArray();
        Tensor logTotal = cat(logPdfs, 0).logsumexp(0);
        Tensor sum = loads.Select((load, l) =>
        {
            Tensor logTarget = (logPdfs[l] - logTotal).sort(-1, descending: true).Values;
            Tensor sorted = load.sort(-1, descending: true).Values;
            return DivergenceOfLogTarget(logTarget, sorted / sorted.sum(), NormalEpsilon, form);
        }).Aggregate((a, b) => a + b);
        return (sum / loads.Count).MoveToOuterDisposeScope();
    }

    /// <summary>This batch's load [E] as GMoE counts it: each token's top-k probabilities (before renormalisation)
    /// scattered onto their experts, summed over the (non-padding) tokens, times k.</summary>
    public static Tensor BatchLoad(RoutingDecision decision, Tensor? tokenMask)
    {
        using var scope = NewDisposeScope();
        Tensor topProbs = decision.Probs.gather(1, decision.Experts);                                   // [T, k]
        if (tokenMask is not null) topProbs = topProbs * tokenMask.to(ScalarType.Float32).unsqueeze(1);
        Tensor load = zeros_like(decision.Probs).scatter_add(1, decision.Experts, topProbs).sum(dim: 0);
        return (load * decision.Experts.shape[1]).MoveToOuterDisposeScope();
    }
}
