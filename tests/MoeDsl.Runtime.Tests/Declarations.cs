namespace MoeDsl.Runtime.Tests;

// Declarations shaped like stories260K (5 layers, hidden 64, intermediate 172, 8 heads, 4 kv heads, vocab 512).

[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(4)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.0, Targets = LoraTargets.All)]
[LoadBalance(0.001)]
public partial class StoriesMixLora { }

[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(2, 3, 4, 5, 6)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.0, Targets = LoraTargets.All)]
public partial class StoriesMola { }

[MoeModel]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.0, Targets = LoraTargets.Attention)]
public partial class StoriesLora { }

[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(4)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 16)]
[Lora(Rank = 2, Alpha = 4, Dropout = 0.0, Targets = LoraTargets.All)]
[GraphLosses]
public partial class StoriesGmoe { }

[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(3)]
[Router(RouterKind.Switch, CapacityFactor = 1.5)]
[Lora(Rank = 2, Alpha = 4, Dropout = 0.0, Targets = LoraTargets.Q | LoraTargets.V | LoraTargets.Down)]
public partial class StoriesSwitch { }

[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(2, 3, 4, 5, 6)]
[Router(RouterKind.TopP, TopP = 0.6)]
[Lora(Rank = 2, Alpha = 4, Dropout = 0.0, Targets = LoraTargets.All)]
public partial class StoriesTopP { }

[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(4)]
[Router(RouterKind.Soft)]
[Lora(Rank = 2, Alpha = 4, Dropout = 0.0, Targets = LoraTargets.FeedForward)]
public partial class StoriesSoft { }

/// <summary>Graph router without [GraphLosses]: the GMoE losses are on with the paper's coefficients, so lambda and sigma train.</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(3)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 8, GraphLayers = 1)]
[Lora(Rank = 1, Alpha = 2, Dropout = 0.0, Targets = LoraTargets.FeedForward)]
public partial class StoriesGraphDefault { }

/// <summary>GMoE with 6 experts and density 0.5: a graph with expert-expert edges that training can change (rebuilt at load, the default).</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(6)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 8, GraphLayers = 1, GraphDensity = 0.5)]
[Lora(Rank = 1, Alpha = 2, Dropout = 0.0, Targets = LoraTargets.FeedForward)]
public partial class StoriesGmoeRebuiltGraph { }

/// <summary>As <see cref="StoriesGmoeRebuiltGraph"/>, keeping the saved graph at load (the opt-in).</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(6)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 8, GraphLayers = 1, GraphDensity = 0.5, GraphRebuiltAtLoad = false)]
[Lora(Rank = 1, Alpha = 2, Dropout = 0.0, Targets = LoraTargets.FeedForward)]
public partial class StoriesGmoeSavedGraph { }
