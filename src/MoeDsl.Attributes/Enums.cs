using System;

// Also compiled into the generator (MOEDSL_GENERATOR), where these types are internal.
namespace MoeDsl
{
    /// <summary>Where the LoRA experts sit.</summary>
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    enum ExpertPlacement
    {
        /// <summary>MixLoRA / GMoE: one router per layer over experts that each add their own LoRA to the shared,
        /// frozen gate/up/down projections; targeted attention projections get one plain LoRA each.</summary>
        FeedForward = 0,

        /// <summary>MoLA: every targeted projection has its own router and its own LoRA experts.</summary>
        EveryProjection = 1,
    }

    /// <summary>How tokens are routed to experts.</summary>
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    enum RouterKind
    {
        /// <summary>Softmax, top-k, weights renormalised to sum 1 (MixLoRA, MoLA).</summary>
        TopK = 0,
        /// <summary>Dynamic: the smallest prefix of sorted probabilities reaching p, not renormalised (MoE-PEFT).</summary>
        TopP = 1,
        /// <summary>Top-1 with per-sequence capacity and a router z-loss (Switch Transformer, MoE-PEFT).</summary>
        Switch = 2,
        /// <summary>Dense softmax over all experts (LoRAMoE).</summary>
        Soft = 3,
        /// <summary>GCN over the expert nodes plus the token node (GMoE).</summary>
        Graph = 4,
    }

    /// <summary>Projections of a LLaMA decoder layer that receive LoRA.</summary>
    [Flags]
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    enum LoraTargets
    {
        /// <summary>No projection.</summary>
        None = 0,
        /// <summary>self_attn.q_proj</summary>
        Q = 1,
        /// <summary>self_attn.k_proj</summary>
        K = 2,
        /// <summary>self_attn.v_proj</summary>
        V = 4,
        /// <summary>self_attn.o_proj</summary>
        O = 8,
        /// <summary>mlp.gate_proj</summary>
        Gate = 16,
        /// <summary>mlp.up_proj</summary>
        Up = 32,
        /// <summary>mlp.down_proj</summary>
        Down = 64,
        /// <summary>Q | K | V | O</summary>
        Attention = Q | K | V | O,
        /// <summary>Gate | Up | Down</summary>
        FeedForward = Gate | Up | Down,
        /// <summary>All seven projections.</summary>
        All = Attention | FeedForward,
    }

    /// <summary>The layer-wise allocations studied in the MoLA paper (4 groups of layers).</summary>
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    enum AllocationPreset
    {
        /// <summary>8-6-4-2: more experts in lower layers.</summary>
        Triangle = 0,
        /// <summary>2-4-6-8: more experts in higher layers (MoLA's best).</summary>
        InvertedTriangle = 1,
        /// <summary>8-2-2-8.</summary>
        Hourglass = 2,
        /// <summary>2-8-8-2.</summary>
        Diamond = 3,
        /// <summary>5-5-5-5: the uniform baseline.</summary>
        Rectangle = 4,
    }

    /// <summary>How the GMoE strategies compare a distribution p with the router's q.</summary>
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    enum GraphLossForm
    {
        /// <summary><c>sum_i p_i * |log(p_i / q_i)|</c>, as the reference code computes it (default).</summary>
        AbsLog = 0,
        /// <summary><c>sum_i p_i * log(p_i / q_i)</c>, the KL divergence as the paper writes it.</summary>
        KL = 1,
    }

    /// <summary>What GMoE's Normal balance target is normalised over.</summary>
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    enum GraphNormalScope
    {
        /// <summary>Over all layers stacked, as the reference code does (<c>_GoE_count_loss_func</c>: the pdf of every
        /// layer divided by one sum), so each layer's target sums to about 1/L (default).</summary>
        AcrossLayers = 0,
        /// <summary>Per layer (each layer's target sums to 1, so the loss is 0 at the target), with the coefficient divided by
        /// the number of routed layers L, the weight the reference's 1/L-sized target gives each layer.</summary>
        PerLayer = 1,
    }
}
