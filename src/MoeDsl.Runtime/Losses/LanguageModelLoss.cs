using static TorchSharp.torch;

namespace MoeDsl.Runtime.Losses;

/// <summary>Next-token cross-entropy in fp32.</summary>
public static class LanguageModelLoss
{
    /// <summary>Label value that is not scored (prompt tokens when masked, padding).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Mean cross-entropy of <paramref name="logits"/> [B, L, V] at position t against <paramref name="labels"/>
    /// [B, L] at t + 1, skipping <see cref="IgnoreIndex"/>.</summary>
    public static Tensor Compute(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        long v = logits.shape[2];
        Tensor shiftedLogits = logits.narrow(1, 0, logits.shape[1] - 1).reshape(-1, v).to(ScalarType.Float32);
        Tensor shiftedLabels = labels.narrow(1, 1, labels.shape[1] - 1).reshape(-1);
        return nn.functional.cross_entropy(shiftedLogits, shiftedLabels, ignore_index: IgnoreIndex).MoveToOuterDisposeScope();
    }
}
