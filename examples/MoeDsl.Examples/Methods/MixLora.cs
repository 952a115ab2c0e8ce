namespace MoeDsl.Examples.Methods;

/// <summary>MixLoRA (seed 002, TUDB-Labs/MoE-PEFT): 8 LoRA experts in every FFN sharing the frozen gate/up/down, top-2,
/// plain LoRA on q/k/v/o, the Mixtral auxiliary load-balance loss with coefficient 0.001 (MoE-PEFT's default),
/// router N(0, 0.02), dropout 0.05, alpha = 2r. Rank 4 (the paper uses 8 or 16 at 7B) matches the LoRA budget here.</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[ExpertsPerLayer(8)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.05, Targets = LoraTargets.All)]
[LoadBalance(0.001)]
public partial class Mixlora { }   // tool name "mixlora" (PascalCase is split: MixLora would be "mix-lora")
