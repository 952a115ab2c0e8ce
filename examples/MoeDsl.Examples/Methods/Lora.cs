namespace MoeDsl.Examples.Methods;

/// <summary>Plain LoRA on all seven projections: the baseline every mixture is compared with.
/// Rank 24 gives 112,128 trainable parameters on the embedded base, the budget the mixtures below are matched to (±10%).</summary>
[MoeModel]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[Lora(Rank = 24, Alpha = 48, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Lora { }
