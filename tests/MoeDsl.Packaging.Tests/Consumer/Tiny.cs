using MoeDsl;

namespace Consumer;

/// <summary>MixLoRA-style experts on stories260K's shape (5 layers, hidden 64, 8 heads over 4 key/value heads).</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 5, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
[ExpertsPerLayer(4)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0)]
public partial class Tiny { }
