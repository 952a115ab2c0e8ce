using System;
using System.Collections.Generic;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Modeling;

/// <summary>Everything a declaration says, as data: written into adapter_config.json, printed by <c>inspect</c>, and read by
/// the auxiliary losses. The generator emits one per declared class (constants baked in).</summary>
public sealed record ModelSpec
{
    /// <summary>Declared class name (or the CLI method name).</summary>
    public string Name { get; init; } = "";
    /// <summary>Where the experts sit.</summary>
    public ExpertPlacement Placement { get; init; }
    /// <summary>Router kind; null for plain LoRA or a frozen base.</summary>
    public RouterKind? Router { get; init; }
    /// <summary>LoRA targets.</summary>
    public LoraTargets Targets { get; init; }
    /// <summary>Alpha of every adapter.</summary>
    public double Alpha { get; init; }
    /// <summary>Dropout of every adapter.</summary>
    public double Dropout { get; init; }
    /// <summary>Experts in each layer (empty for plain LoRA).</summary>
    public int[] ExpertsPerLayer { get; init; } = Array.Empty<int>();
    /// <summary>Top-k in each layer (empty for plain LoRA).</summary>
    public int[] TopKPerLayer { get; init; } = Array.Empty<int>();
    /// <summary>LoRA rank in each layer.</summary>
    public int[] RankPerLayer { get; init; } = Array.Empty<int>();
    /// <summary>TopP router's p.</summary>
    public double TopP { get; init; } = 0.8;
    /// <summary>Router input jitter while training.</summary>
    public double JitterNoise { get; init; }
    /// <summary>Switch capacity factor.</summary>
    public double CapacityFactor { get; init; } = 1.0;
    /// <summary>Switch z-loss coefficient.</summary>
    public double ZLossCoefficient { get; init; } = 0.001;
    /// <summary>Load-balance coefficient; null when not declared.</summary>
    public double? LoadBalance { get; init; }
    /// <summary>GMoE: GCN width.</summary>
    public int GraphHidden { get; init; } = 128;
    /// <summary>GMoE: GCN layers.</summary>
    public int GraphLayers { get; init; } = 2;
    /// <summary>GMoE: expert-expert edge density.</summary>
    public double GraphDensity { get; init; } = 0.25;
    /// <summary>GMoE: Poisson distinction coefficient (null: not declared).</summary>
    public double? PoissonCoefficient { get; init; }
    /// <summary>GMoE: Normal balance coefficient (null: not declared).</summary>
    public double? NormalCoefficient { get; init; }
    /// <summary>GMoE: initial Poisson lambda.</summary>
    public double PoissonLambda { get; init; } = 1.5;
    /// <summary>GMoE: loss form.</summary>
    public GraphLossForm GraphLossForm { get; init; }
    /// <summary>Declared base shape (layers, hidden, intermediate, heads, kv heads, vocab).</summary>
    public int Layers { get; init; }
    /// <summary>hidden_size</summary>
    public int Hidden { get; init; }
    /// <summary>intermediate_size</summary>
    public int Intermediate { get; init; }
    /// <summary>num_attention_heads</summary>
    public int Heads { get; init; }
    /// <summary>num_key_value_heads</summary>
    public int KvHeads { get; init; }
    /// <summary>vocab_size</summary>
    public int Vocab { get; init; }
    /// <summary>Trainable parameters computed at compile time.</summary>
    public long TrainableParameters { get; init; }

    /// <summary>True when the model has experts.</summary>
    public bool IsMixture => ExpertsPerLayer.Length > 0;

    /// <summary>A frozen base: no adapters at all.</summary>
    public static ModelSpec FrozenBase(LlamaConfig c) => new()
    {
        Name = "base", Targets = LoraTargets.None, Layers = c.NumHiddenLayers, Hidden = c.HiddenSize, Intermediate = c.IntermediateSize,
        Heads = c.NumAttentionHeads, KvHeads = c.NumKeyValueHeads, Vocab = c.VocabSize,
    };

    /// <summary>This declaration re-shaped to another base: same per-group allocation spread over the config's layers
    /// (or, for per-layer lists of another length, an error), base sizes taken from the config. Trainable-parameter
    /// count is recomputed by the model, not here (set to 0).</summary>
    public ModelSpec ShapedTo(LlamaConfig c)
    {
        if (Layers == c.NumHiddenLayers && Hidden == c.HiddenSize && Intermediate == c.IntermediateSize && Heads == c.NumAttentionHeads
            && KvHeads == c.NumKeyValueHeads && Vocab == c.VocabSize)
            return this;
        return this with
        {
            ExpertsPerLayer = Respread(ExpertsPerLayer, c.NumHiddenLayers, "experts per layer"),
            TopKPerLayer = Respread(TopKPerLayer, c.NumHiddenLayers, "top-k per layer"),
            RankPerLayer = Respread(RankPerLayer, c.NumHiddenLayers, "rank per layer"),
            Layers = c.NumHiddenLayers, Hidden = c.HiddenSize, Intermediate = c.IntermediateSize, Heads = c.NumAttentionHeads,
            KvHeads = c.NumKeyValueHeads, Vocab = c.VocabSize, TrainableParameters = 0,
        };
    }

    /// <summary>Spreads a per-layer list over <paramref name="layers"/> layers keeping its group structure: runs of equal
    /// values are groups; group g of n covers layers [g*layers/n, (g+1)*layers/n).</summary>
    public static int[] Respread(int[] perLayer, int layers, string what)
    {
        if (perLayer.Length == 0 || perLayer.Length == layers) return perLayer;
        var groups = new System.Collections.Generic.List<int>();
        int groupSize = 0;
        for (int n = 1; n <= perLayer.Length; n++)
        {
            if (perLayer.Length % n != 0) continue;
            int size = perLayer.Length / n;
            bool uniform = true;
            for (int i = 0; i < perLayer.Length && uniform; i++) uniform = perLayer[i] == perLayer[i / size * size];
            if (uniform) { groupSize = size; break; }
        }
        for (int i = 0; i < perLayer.Length; i += groupSize) groups.Add(perLayer[i]);
        if (layers % groups.Count != 0)
            throw new ArgumentException($"{what}: {groups.Count} groups cannot be spread evenly over {layers} layers");
        var result = new int[layers];
        for (int l = 0; l < layers; l++) result[l] = groups[l / (layers / groups.Count)];
        return result;
    }

    /// <summary>Throws <see cref="ModelFormatException"/> naming the first field where a checkpoint's config differs from the declaration.</summary>
    public void EnsureMatches(LlamaConfig c, string configFile)
    {
        var pairs = new List<(string Field, long Declared, long Actual)>
        {
            ("num_hidden_layers", Layers, c.NumHiddenLayers), ("hidden_size", Hidden, c.HiddenSize),
            ("intermediate_size", Intermediate, c.IntermediateSize), ("num_attention_heads", Heads, c.NumAttentionHeads),
            ("num_key_value_heads", KvHeads, c.NumKeyValueHeads), ("vocab_size", Vocab, c.VocabSize),
        };
        foreach (var (field, declared, actual) in pairs)
            if (declared != actual)
                throw new ModelFormatException(configFile, field, $"is {actual} but {Name} was declared for {declared}; change [BaseModel] or use a matching checkpoint");
    }
}
