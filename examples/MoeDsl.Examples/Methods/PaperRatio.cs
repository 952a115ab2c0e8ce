namespace MoeDsl.Examples.Methods;

/// <summary>MixLoRA at the paper's own setting (MixLoRA, Table 1: 8 experts, top-2, rank 16), compared with
/// <see cref="Lora80"/> as the paper compares it with LoRA r = 80 — the papers' budget ratio rather than a matched one.</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[ExpertsPerLayer(8)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 16, Alpha = 32, Dropout = 0.05, Targets = LoraTargets.All)]
[LoadBalance(0.001)]
public partial class Mixlora16 { }   // tool name "mixlora-16", the name PaperRatios pairs with "lora-80"

/// <summary>Plain LoRA r = 80 on all seven projections: the baseline MixLoRA's paper sets against MixLoRA r = 16.</summary>
[MoeModel]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[Lora(Rank = 80, Alpha = 160, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Lora80 { }
