using MoeDsl.Runtime.Experts.Execution;
namespace MoeDsl.Runtime.Experts;

/// <summary>How a layer runs its experts' LoRA.</summary>
public enum ExpertExecution
{
    /// <summary>The measured default: fused on the CPU for layers big enough to pay, dense-masked otherwise (<see cref="MoeFeedForward.Resolve"/>).</summary>
    Auto = 0,
    /// <summary>Pairs sorted by expert, each expert on its segment; one host read of the segment sizes per forward.</summary>
    Grouped = 1,
    /// <summary>All experts' A stacked, unchosen r-blocks zeroed, one GEMM with the stacked B; no host synchronisation.</summary>
    DenseMasked = 2,
    /// <summary>Grouped, as one autograd function that keeps the frozen gate/up outputs and rank-wide activations and
    /// recomputes the I-wide ones in backward (<see cref="FusedExpertFeedForward"/>).</summary>
    Fused = 3,
}
