using System;

namespace MoeDsl
{
    /// <summary>Marks a <c>partial class</c> as a LoRA mixture-of-experts model; the MoeDsl generator completes it.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class MoeModelAttribute : Attribute
    {
        /// <summary>Where the experts sit. Default: <see cref="ExpertPlacement.FeedForward"/>.</summary>
        public ExpertPlacement Placement { get; set; } = DslDefaults.Placement;

        /// <summary>Report the trainable parameters of every layer as an info diagnostic (MOE050) at build time.</summary>
        public bool ReportParameters { get; set; }
    }

    /// <summary>The shape of the decoder base the adapters are built for (llama, mistral, qwen2, qwen3, gemma, gemma2,
    /// phi3). Either the sizes, or <see cref="ConfigFile"/> naming a Hugging Face <c>config.json</c> listed among the
    /// project's AdditionalFiles. Only the sizes shape the adapters: q/k/v biases are frozen base weights, and fused
    /// projections (phi3's qkv_proj, gate_up_proj) are split into q/k/v and gate/up at load, so LoRA targets always name
    /// the logical projections.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class BaseModelAttribute : Attribute
    {
        /// <summary>num_hidden_layers</summary>
        public int Layers { get; set; }
        /// <summary>hidden_size</summary>
        public int Hidden { get; set; }
        /// <summary>intermediate_size</summary>
        public int Intermediate { get; set; }
        /// <summary>num_attention_heads</summary>
        public int Heads { get; set; }
        /// <summary>num_key_value_heads (0 = same as <see cref="Heads"/>).</summary>
        public int KvHeads { get; set; }
        /// <summary>vocab_size</summary>
        public int Vocab { get; set; }
        /// <summary>head_dim: the size of one attention head (0 = <see cref="Hidden"/> / <see cref="Heads"/>). Qwen3 and Gemma
        /// set it apart from hidden / heads; q_proj is then hidden -> heads x head_dim and o_proj heads x head_dim -> hidden.</summary>
        public int HeadDim { get; set; }
        /// <summary>Path of a config.json to read the sizes (and model_type, head_dim, rope_scaling) from at compile time: an
        /// AdditionalFiles item, resolved relative to the declaring project's folder (a path that is no file there may name
        /// the end of exactly one AdditionalFiles path).</summary>
        public string? ConfigFile { get; set; }
    }

    /// <summary>Number of LoRA experts per layer: n values spread over n equal groups of layers, or one value per layer.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class ExpertsPerLayerAttribute : Attribute
    {
        /// <summary>Expert counts: one per group of layers (groups of equal size) or one per layer.</summary>
        public ExpertsPerLayerAttribute(params int[] counts) { Counts = counts; }

        /// <summary>One of the MoLA paper's allocations (4 groups).</summary>
        public ExpertsPerLayerAttribute(AllocationPreset preset) { Preset = preset; Counts = Array.Empty<int>(); }

        /// <summary>The counts given, empty when a preset was used.</summary>
        public int[] Counts { get; }

        /// <summary>The preset given, if any.</summary>
        public AllocationPreset? Preset { get; }

        /// <summary>Optional top-k per group/layer (same length as the counts); overrides <see cref="RouterAttribute.TopK"/>.</summary>
        public int[]? TopK { get; set; }

        /// <summary>Optional LoRA rank per group/layer (same length as the counts); overrides <see cref="LoraAttribute.Rank"/>.</summary>
        public int[]? Ranks { get; set; }
    }

    /// <summary>The router of every MoE layer.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class RouterAttribute : Attribute
    {
        /// <summary>Creates a router declaration.</summary>
        public RouterAttribute(RouterKind kind) { Kind = kind; }

        /// <summary>The routing rule.</summary>
        public RouterKind Kind { get; }
        /// <summary>Experts chosen per token (TopK, Graph; Switch uses 1). Default 2.</summary>
        public int TopK { get; set; } = DslDefaults.TopK;
        /// <summary>Probability mass for <see cref="RouterKind.TopP"/>, in (0, 1]. Default 0.8.</summary>
        public double TopP { get; set; } = DslDefaults.TopP;
        /// <summary>Multiplicative jitter noise on the router input during training (0 = off).</summary>
        public double JitterNoise { get; set; } = DslDefaults.JitterNoise;
        /// <summary>Switch capacity factor: capacity = ceil(factor * tokens / experts) per sequence. Default 1.0.</summary>
        public double CapacityFactor { get; set; } = DslDefaults.CapacityFactor;
        /// <summary>Switch router z-loss coefficient. Default 0.001.</summary>
        public double ZLossCoefficient { get; set; } = DslDefaults.ZLossCoefficient;
        /// <summary>Graph router: GCN width g. Default 128.</summary>
        public int GraphHidden { get; set; } = DslDefaults.GraphHidden;
        /// <summary>Graph router: GCN layers L. Default 2.</summary>
        public int GraphLayers { get; set; } = DslDefaults.GraphLayers;
        /// <summary>Graph router: expert-expert edge density rho (diagonal included). Default 0.25.</summary>
        public double GraphDensity { get; set; } = DslDefaults.GraphDensity;
        /// <summary>Graph router: when an adapter is loaded for evaluation, rebuild the expert graph from its trained weights
        /// (true, GMoE's behaviour: the graph the model is evaluated with can differ from the one it trained with) or keep the
        /// graph it was trained with, saved in the adapter (false). Resuming a training checkpoint always keeps the saved graph.
        /// Default true.</summary>
        public bool GraphRebuiltAtLoad { get; set; } = DslDefaults.GraphRebuiltAtLoad;
    }

    /// <summary>LoRA settings of every adapter (expert or plain).</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class LoraAttribute : Attribute
    {
        /// <summary>Rank r. Default 8.</summary>
        public int Rank { get; set; } = DslDefaults.Rank;
        /// <summary>Alpha; the update is scaled by alpha / r. Default 16.</summary>
        public double Alpha { get; set; } = DslDefaults.Alpha;
        /// <summary>Dropout on the LoRA input, in [0, 1). Default 0.05.</summary>
        public double Dropout { get; set; } = DslDefaults.Dropout;
        /// <summary>Targeted projections. Default all seven.</summary>
        public LoraTargets Targets { get; set; } = DslDefaults.Targets;
    }

    /// <summary>Auxiliary load-balance loss: MixLoRA's Mixtral form (FeedForward placement, logits of all layers pooled)
    /// or MoLA's per-layer form (EveryProjection placement). Off unless declared.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class LoadBalanceAttribute : Attribute
    {
        /// <summary>Declares the loss with coefficient 0.001.</summary>
        public LoadBalanceAttribute() { }
        /// <summary>Declares the loss with the given coefficient.</summary>
        public LoadBalanceAttribute(double coefficient) { Coefficient = coefficient; }
        /// <summary>The coefficient. Default 0.001.</summary>
        public double Coefficient { get; } = DslDefaults.LoadBalance;
    }

    /// <summary>GMoE's two strategies for the Graph router: Poisson distinction and Normal balance.</summary>
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class GraphLossesAttribute : Attribute
    {
        /// <summary>Coefficient of the Poisson distinction loss. Default 0.005.</summary>
        public double Poisson { get; set; } = DslDefaults.PoissonCoefficient;
        /// <summary>Coefficient of the Normal balance loss. Default 8.</summary>
        public double Normal { get; set; } = DslDefaults.NormalCoefficient;
        /// <summary>Initial lambda of the Poisson target (clamped to [1, 2]). Default 1.5.</summary>
        public double Lambda { get; set; } = DslDefaults.PoissonLambda;
        /// <summary>Divergence form. Default <see cref="GraphLossForm.AbsLog"/> (the reference code's).</summary>
        public GraphLossForm Form { get; set; } = DslDefaults.GraphLossForm;
        /// <summary>What the Normal target is normalised over. Default <see cref="GraphNormalScope.AcrossLayers"/> (the reference code's).</summary>
        public GraphNormalScope NormalScope { get; set; } = DslDefaults.GraphNormalScope;
        /// <summary>Whether padding tokens count in both losses and the running load. Default true (the reference code routes
        /// and counts every position of the padded batch); false counts only real tokens.</summary>
        public bool CountPadding { get; set; } = DslDefaults.GraphCountPadding;
    }
}
