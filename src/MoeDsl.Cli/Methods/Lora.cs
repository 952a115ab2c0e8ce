namespace MoeDsl.Cli.Methods;

/// <summary><c>--method lora</c>: plain LoRA on all seven projections of LLaMA-2-7B, r = 8, alpha = 16, dropout 0.05 — the
/// baseline the MoLA, MixLoRA and GMoE papers compare with. Re-shaped to the base given with <c>--model</c>.</summary>
[MoeModel]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[Lora(Rank = 8, Alpha = 16, Dropout = 0.05, Targets = LoraTargets.All)]
public partial class Lora { }
