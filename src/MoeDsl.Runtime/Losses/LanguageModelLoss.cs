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
        long b = logits.shape[0], v = logits.shape[2];
        // The labels move, not the logits: position t is scored against label t + 1 and the last position against
        // IgnoreIndex. Same terms and mean as narrowing the logits to L - 1 positions, but the [B*L, V] logits stay a view
        // (no copy of them forward, no zero-filled [B, L, V] gradient for the narrow backward).
        Tensor next = cat(new[] { labels.narrow(1, 1, labels.shape[1] - 1), full(b, 1, IgnoreIndex, dtype: labels.dtype, device: labels.device) }, 1);
        return nn.functional.cross_entropy(logits.reshape(-1, v).to(ScalarType.Float32), next.reshape(-1), ignore_index: IgnoreIndex).MoveToOuterDisposeScope();
    }
}
