namespace MoeDsl.Cli.Methods;

// MoLA (arXiv 2402.08562, GCYZSL/MoLA): every projection has its own router over its own LoRA experts, top-2, r = 8,
// alpha = 16, dropout 0.05, on LLaMA-2-7B (32 layers in four groups of 8). The five allocations the paper studies.

/// <summary><c>--method mola-2468</c>: 2-4-6-8 experts over the four layer groups (the paper's best: more experts higher up).</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(AllocationPreset.InvertedTriangle)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola2468 { }

/// <summary><c>--method mola-5555</c>: 5 experts in every layer (the uniform baseline with the same total).</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(AllocationPreset.Rectangle)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola5555 { }

/// <summary><c>--method mola-8642</c>: 8-6-4-2 (more experts in lower layers).</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(AllocationPreset.Triangle)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola8642 { }

/// <summary><c>--method mola-8228</c>: 8-2-2-8 (hourglass).</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(AllocationPreset.Hourglass)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola8228 { }

/// <summary><c>--method mola-2882</c>: 2-8-8-2 (diamond).</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(AllocationPreset.Diamond)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola2882 { }
