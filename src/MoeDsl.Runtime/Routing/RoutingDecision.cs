using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>What a router decided for T = batch x sequence tokens over E experts, with S slots per token.</summary>
/// <param name="Logits">[T, E] fp32 router logits.</param>
/// <param name="Probs">[T, E] fp32 routing probabilities (softmax of the logits).</param>
/// <param name="Experts">[T, S] int64 expert of each slot.</param>
/// <param name="Weights">[T, S] fp32 combine weight of each slot; 0 where the slot is unused (TopP beyond its prefix, a
/// Switch token over capacity).</param>
public sealed record RoutingDecision(Tensor Logits, Tensor Probs, Tensor Experts, Tensor Weights)
{
    /// <summary>Number of experts E.</summary>
    public long ExpertCount => Logits.shape[1];

    /// <summary>Dense combine weights [T, E]: slot weights scattered onto their experts.</summary>
    public Tensor DenseWeights() => zeros_like(Probs).scatter_add_(1, Experts, Weights);

    /// <summary>Takes every tensor out of all dispose scopes; the owner must call <see cref="Dispose"/>.</summary>
    public RoutingDecision DetachFromDisposeScope()
    {
        Logits.DetachFromDisposeScope();
        Probs.DetachFromDisposeScope();
        Experts.DetachFromDisposeScope();
        Weights.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Disposes the tensors (autograd keeps what backward needs).</summary>
    public void Dispose()
    {
        Logits.Dispose();
        Probs.Dispose();
        Experts.Dispose();
        Weights.Dispose();
    }

    /// <summary>Moves every tensor of the decision to the enclosing dispose scope.</summary>
    public RoutingDecision MoveToOuterDisposeScope()
    {
        Logits.MoveToOuterDisposeScope();
        Probs.MoveToOuterDisposeScope();
        Experts.MoveToOuterDisposeScope();
        Weights.MoveToOuterDisposeScope();
        return this;
    }
}
