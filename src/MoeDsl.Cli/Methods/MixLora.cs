namespace MoeDsl.Cli.Methods;

/// <summary><c>--method mixlora</c> (arXiv 2404.15159, TUDB-Labs/MoE-PEFT): 8 LoRA experts in every FFN sharing the frozen
/// gate/up/down projections, top-2 routing, plain LoRA on q/k/v/o, r = 8, alpha = 16, dropout 0.05, and the auxiliary
/// load-balance loss with coefficient 0.001 (MoE-PEFT's default), on the LLaMA-2-7B shape.</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(8)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
[LoadBalance(0.001)]
public partial class Mixlora { }   // tool name "mixlora" (PascalCase is split: MixLora would be "mix-lora")
