namespace MoeDsl.Examples.Methods;

/// <summary>MoLA-2468 (seed 000, GCYZSL/MoLA): every projection routed over its own experts, 2-4-6-8 experts over the
/// four groups of layers ("higher layers need more experts"), top-2, router as nn.Linear, dropout 0.05, alpha = 2r.
/// Rank 4 (the paper uses 8 at 7B) matches the LoRA budget here. No load balance, as in the paper's main runs.</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[ExpertsPerLayer(AllocationPreset.InvertedTriangle)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola2468 { }

/// <summary>MoLA-5555: the uniform allocation with the same 20 experts in total (the paper's Rectangle baseline).</summary>
[MoeModel(Placement = ExpertPlacement.EveryProjection)]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[ExpertsPerLayer(AllocationPreset.Rectangle)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Mola5555 { }
