namespace MoeDsl.Generator.Tests;

/// <summary>Declarations used by several tests: one per method of the seed papers, one per router kind, both placements.</summary>
public static class Declarations
{
    public const string Llama2_7B = "Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000";
    public const string Stories260K = "Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512";

    /// <summary>stories260K's config.json, as an AdditionalFiles item.</summary>
    public const string Stories260KConfig = """
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": 64,
          "intermediate_size": 172,
          "num_hidden_layers": 5,
          "num_attention_heads": 8,
          "num_key_value_heads": 4,
          "vocab_size": 512,
          "rms_norm_eps": 1e-05,
          "rope_scaling": null,
          "tie_word_embeddings": true
        }
        """;

    public static string Wrap(string attributes, string name, string ns = "Examples")
        => $$"""
        using MoeDsl;

        namespace {{ns}}
        {
            /// <summary>A declared model.</summary>
            {{attributes.Trim().Replace("\n", "\n    ")}}
            public partial class {{name}}
            {
            }
        }
        """;

    /// <summary>(baseline name, source, additional files) of every snapshot case.</summary>
    public static readonly (string Name, string Source, bool NeedsConfig)[] Snapshots =
    {
        ("MixLoRA", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.FeedForward)]
            [BaseModel({{Llama2_7B}})]
            [ExpertsPerLayer(8)]
            [Router(RouterKind.TopK, TopK = 2)]
            [Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
            [LoadBalance(0.001)]
            """, "MixLoRA"), false),
        ("MoLA2468", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.EveryProjection)]
            [BaseModel({{Llama2_7B}})]
            [ExpertsPerLayer(2, 4, 6, 8)]
            [Router(RouterKind.TopK, TopK = 2)]
            [Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
            """, "MoLA2468"), false),
        ("PlainLora", Wrap("""
            [MoeModel]
            [BaseModel(ConfigFile = "stories260K/config.json")]
            [Lora(Rank = 4, Alpha = 8, Dropout = 0, Targets = LoraTargets.Q | LoraTargets.V)]
            """, "PlainLora"), true),
        ("TopPFeedForward", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.FeedForward)]
            [BaseModel({{Stories260K}})]
            [ExpertsPerLayer(4)]
            [Router(RouterKind.TopP, TopP = 0.8, JitterNoise = 0.01)]
            [Lora(Rank = 4, Alpha = 8, Targets = LoraTargets.All)]
            [LoadBalance]
            """, "TopPFeedForward"), false),
        ("SwitchEveryProjection", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.EveryProjection)]
            [BaseModel({{Stories260K}})]
            [ExpertsPerLayer(2, 3, 4, 5, 6, Ranks = new[] { 2, 2, 4, 4, 8 })]
            [Router(RouterKind.Switch, CapacityFactor = 1.25, ZLossCoefficient = 0.001)]
            [Lora(Rank = 4, Alpha = 8, Targets = LoraTargets.Attention)]
            """, "SwitchEveryProjection"), false),
        ("SoftFeedForward", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.FeedForward)]
            [BaseModel({{Stories260K}})]
            [ExpertsPerLayer(3)]
            [Router(RouterKind.Soft)]
            [Lora(Rank = 4, Alpha = 8, Targets = LoraTargets.FeedForward | LoraTargets.Q)]
            """, "SoftFeedForward"), false),
        ("GraphGMoE", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.FeedForward)]
            [BaseModel({{Stories260K}})]
            [ExpertsPerLayer(8)]
            [Router(RouterKind.Graph, TopK = 2, GraphHidden = 128, GraphLayers = 2, GraphDensity = 0.25)]
            [Lora(Rank = 2, Alpha = 4, Dropout = 0.05, Targets = LoraTargets.All)]
            [GraphLosses(Poisson = 0.005, Normal = 8, Form = GraphLossForm.AbsLog)]
            """, "GraphGMoE"), false),
        ("GraphSavedGraph", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.FeedForward)]
            [BaseModel({{Stories260K}})]
            [ExpertsPerLayer(6)]
            [Router(RouterKind.Graph, TopK = 2, GraphHidden = 16, GraphLayers = 1, GraphDensity = 0.5, GraphRebuiltAtLoad = false)]
            [Lora(Rank = 2, Alpha = 4, Targets = LoraTargets.FeedForward)]
            """, "GraphSavedGraph"), false),
        ("TopKPerGroupEveryProjection", Wrap($$"""
            [MoeModel(Placement = ExpertPlacement.EveryProjection, ReportParameters = true)]
            [BaseModel({{Llama2_7B}})]
            [ExpertsPerLayer(AllocationPreset.Hourglass, TopK = new[] { 2, 1, 1, 2 }, Ranks = new[] { 8, 16, 16, 8 })]
            [Router(RouterKind.TopK)]
            [Lora(Rank = 8, Alpha = 16, Targets = LoraTargets.Q | LoraTargets.V | LoraTargets.Down)]
            [LoadBalance(0.01)]
            """, "TopKPerGroup", ns: "Examples.Nested"), false),
    };
}
