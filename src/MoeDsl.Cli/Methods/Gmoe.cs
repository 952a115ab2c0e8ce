namespace MoeDsl.Cli.Methods;

/// <summary><c>--method gmoe</c> (arXiv 2412.16216, BAI-LAB/GMoE): a graph router (GCN over the expert nodes plus the
/// token node, width 128, 2 layers, edge density 0.25) over LoRA experts in every FFN, top-2, r = 2, alpha = 4, with the
/// Poisson distinction (0.005) and Normal balance (8) losses. The abstract does not state the expert count; 8 is used
/// (as MixLoRA's setting, which GMoE builds on).</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 32, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000)]
[ExpertsPerLayer(8)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 128, GraphLayers = 2, GraphDensity = 0.25)]
[Lora(Rank = 2, Alpha = 4, Dropout = 0.05, Targets = LoraTargets.All)]
[GraphLosses(Poisson = 0.005, Normal = 8)]
public partial class Gmoe { }
