using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>The router z-loss of ST-MoE / Switch: the mean squared log-sum-exp of the router logits, which keeps them small.</summary>
public static class RouterZLoss
{
    /// <summary>Switch router z-loss: <c>mean(logsumexp(logits)^2)</c>.</summary>
    public static Tensor Compute(Tensor logits, Tensor? tokenMask)
    {
        using var scope = NewDisposeScope();
        Tensor z = logits.logsumexp(-1).pow(2);
        Tensor result = tokenMask is null ? z.mean() : (z * tokenMask.to(ScalarType.Float32)).sum() / tokenMask.to(ScalarType.Float32).sum().clamp_min(1);
        return result.MoveToOuterDisposeScope();
    }
}
