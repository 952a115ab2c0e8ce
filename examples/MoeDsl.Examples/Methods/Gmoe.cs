namespace MoeDsl.Examples.Methods;

/// <summary>GMoE (seed 001, BAI-LAB/GMoE): a graph router (GCN over the expert nodes plus the token node, 2 layers,
/// edge density 0.25) over 8 FFN experts, top-2, with the Poisson distinction (0.005) and Normal balance (8) losses
/// in the reference code's |log| form. GCN width 16 instead of the reference 128 (hidden is 64 here), rank 4 instead
/// of 2 to match the LoRA budget; alpha = 2r as in the reference (r = 2, alpha = 4).</summary>
[MoeModel(Placement = ExpertPlacement.FeedForward)]
[BaseModel(Layers = 4, Hidden = 64, Intermediate = 176, Heads = 4, KvHeads = 2, Vocab = 64)]
[ExpertsPerLayer(8)]
[Router(RouterKind.Graph, TopK = 2, GraphHidden = 16, GraphLayers = 2, GraphDensity = 0.25)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.05, Targets = LoraTargets.All)]
[GraphLosses(Poisson = 0.005, Normal = 8)]
public partial class Gmoe { }
