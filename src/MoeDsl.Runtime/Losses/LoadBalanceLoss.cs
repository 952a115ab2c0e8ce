using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>Load-balance losses on routing decisions (unweighted: the caller multiplies by the coefficient).</summary>
public static class LoadBalanceLoss
{
    /// <summary>Mixtral / MixLoRA form over pooled decisions: <c>E * sum_{slot, e} f[slot, e] * P[e]</c> where
    /// f[slot, e] is the share of (non-padding) tokens whose slot chose e and P[e] the mean routing probability.
    /// <paramref name="probs"/> [T, E], <paramref name="experts"/> [T, S], <paramref name="used"/> [T, S] (1 where the slot
    /// is used), <paramref name="tokenMask"/> [T] or null.</summary>
    public static Tensor Mixtral(Tensor probs, Tensor experts, Tensor used, Tensor? tokenMask)
    {
        using var scope = NewDisposeScope();
        long e = probs.shape[1];
        Tensor oneHot = nn.functional.one_hot(experts, e).to(ScalarType.Float32) * used.unsqueeze(-1); // [T, S, E]
        Tensor f, p;
        if (tokenMask is null)
        {
            f = oneHot.mean(new long[] { 0 });                 // [S, E]
            p = probs.mean(new long[] { 0 });                  // [E]
        }
        else
        {
            Tensor m = tokenMask.to(ScalarType.Float32);
            Tensor denom = m.sum();
            f = (oneHot * m.view(-1, 1, 1)).sum(dim: 0) / denom;
            p = (probs * m.view(-1, 1)).sum(dim: 0) / denom;
        }
        return ((f * p.unsqueeze(0)).sum() * e).MoveToOuterDisposeScope();
    }

    /// <summary>MoLA form for one layer: <c>E * sum_e f_e * P_e</c>, f_e = share of all top-k assignments that went to e
    /// (sums to 1), P_e = mean probability. Decisions of all the layer's projections are pooled by the caller (concatenated on T).</summary>
    public static Tensor Mola(Tensor probs, Tensor experts, Tensor used, Tensor? tokenMask)
    {
        using var scope = NewDisposeScope();
        long e = probs.shape[1];
        Tensor weightOfToken = tokenMask is null ? ones(probs.shape[0], device: probs.device) : tokenMask.to(ScalarType.Float32);
        Tensor oneHot = nn.functional.one_hot(experts, e).to(ScalarType.Float32) * (used * weightOfToken.unsqueeze(-1)).unsqueeze(-1);
        Tensor counts = oneHot.sum(new long[] { 0, 1 });       // [E]
        Tensor f = counts / counts.sum().clamp_min(1e-9);
        Tensor p = (probs * weightOfToken.unsqueeze(-1)).sum(dim: 0) / weightOfToken.sum().clamp_min(1e-9);
        return ((f * p).sum() * e).MoveToOuterDisposeScope();
    }
}
