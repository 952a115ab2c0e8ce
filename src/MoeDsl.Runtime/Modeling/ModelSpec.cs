using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Routing;
using MoeDsl.Shared;

namespace MoeDsl.Runtime.Modeling;

/// <summary>One group of consecutive layers with the same experts: <see cref="Experts"/> LoRA experts of rank
/// <see cref="Rank"/>, <see cref="TopK"/> of them chosen per token. A plain-LoRA group has 0 experts and top-k 0.</summary>
/// <param name="Experts">LoRA experts per router (0: plain LoRA).</param>
/// <param name="TopK">Experts chosen per token (TopP and Soft routers: all of them, the router decides the weights).</param>
/// <param name="Rank">LoRA rank of every adapter in the group.</param>
public sealed record ExpertGroup(int Experts, int TopK, int Rank);

/// <summary>Everything a declaration says, as data, with its structure: the groups of layers, the router with only the
/// settings its kind has, the losses. The generator emits one per declared class (constants baked in); the CLI builds one
/// for <c>--method</c>; <see cref="ModelBuilder"/> turns any of them into modules; it is written into adapter_config.json,
/// printed by <c>inspect</c> and read by the auxiliary losses.</summary>
public sealed record ModelSpec
{
    private readonly IReadOnlyList<ExpertGroup> groups = new[] { new ExpertGroup(0, 0, DslDefaults.Rank) };

    /// <summary>Declared class name (or the CLI method name).</summary>
    public string Name { get; init; } = "";
    /// <summary>Where the experts sit.</summary>
    public ExpertPlacement Placement { get; init; } = DslDefaults.Placement;
    /// <summary>The router and its settings; null for plain LoRA or a frozen base.</summary>
    public RouterSettings? Router { get; init; }
    /// <summary>LoRA targets.</summary>
    public LoraTargets Targets { get; init; } = DslDefaults.Targets;
    /// <summary>Alpha of every adapter.</summary>
    public double Alpha { get; init; } = DslDefaults.Alpha;
    /// <summary>Dropout of every adapter.</summary>
    public double Dropout { get; init; } = DslDefaults.Dropout;
    /// <summary>Groups of equal size covering the layers in order (one group per layer is allowed).</summary>
    public IReadOnlyList<ExpertGroup> Groups
    {
        get => groups;
        init => groups = value is { Count: > 0 } ? value.ToArray() : throw new ArgumentException("a declaration needs at least one group of layers", nameof(Groups));
    }
    /// <summary>Load-balance coefficient; null when not declared.</summary>
    public double? LoadBalance { get; init; }
    /// <summary>GMoE's losses as declared; null takes <see cref="GraphLossSettings.Default"/> for a Graph router.</summary>
    public GraphLossSettings? GraphLosses { get; init; }
    /// <summary>num_hidden_layers of the declared base.</summary>
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
    /// <summary>head_dim: the size of one attention head; hidden_size / num_attention_heads unless set (Qwen3, Gemma).</summary>
    public int HeadDim
    {
        get => headDim != 0 ? headDim : Heads > 0 ? Hidden / Heads : 0;
        init => headDim = value;
    }
    private readonly int headDim;
    /// <summary>Trainable parameters computed at compile time (0 when the declaration was re-shaped at run time).</summary>
    public long TrainableParameters { get; init; }

    /// <summary>True when the model has experts.</summary>
    public bool IsMixture => Router is not null;

    /// <summary>The router kind, or null for plain LoRA.</summary>
    public RouterKind? RouterKind => Router?.Kind;

    /// <summary>GMoE's losses in effect: the declared ones, the defaults for a Graph router, else null.</summary>
    public GraphLossSettings? EffectiveGraphLosses => Router is GraphRouterSettings ? GraphLosses ?? GraphLossSettings.Default : null;

    /// <summary>The group that holds <paramref name="layer"/>.</summary>
    public ExpertGroup GroupOf(int layer)
    {
        if (layer < 0 || layer >= Layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"{Name} has layers 0 to {Layers - 1}");
        return Groups[DeclarationShapes.GroupOf(layer, Layers, Groups.Count)];
    }

    /// <summary>Experts in each layer (empty for plain LoRA).</summary>
    public int[] ExpertsPerLayer => IsMixture ? PerLayer(g => g.Experts) : Array.Empty<int>();
    /// <summary>Top-k in each layer (empty for plain LoRA).</summary>
    public int[] TopKPerLayer => IsMixture ? PerLayer(g => g.TopK) : Array.Empty<int>();
    /// <summary>LoRA rank in each layer.</summary>
    public int[] RankPerLayer => PerLayer(g => g.Rank);

    /// <summary>Trainable parameters of one layer (LoRA A/B and routers), counted from the declaration with the formula
    /// the generator uses for <see cref="TrainableParameters"/>.</summary>
    public long TrainableParametersInLayer(int layer)
    {
        ExpertGroup g = GroupOf(layer);
        var graph = Router as GraphRouterSettings;
        return DeclarationShapes.LayerParameters(Placement, RouterKind, Targets, Hidden, Intermediate, Heads, KvHeads, HeadDim,
            g.Experts, g.Rank, graph?.Hidden ?? 0, graph?.Layers ?? 0);
    }

    private int[] PerLayer(Func<ExpertGroup, int> value) => Enumerable.Range(0, Layers).Select(l => value(GroupOf(l))).ToArray();

    /// <summary>A frozen base: no adapters at all.</summary>
    public static ModelSpec FrozenBase(LlamaConfig c) => new ModelSpec { Name = "base", Targets = LoraTargets.None }.WithShape(c);

    /// <summary>This declaration with the base sizes of <paramref name="c"/> (the groups are spread over its layers).</summary>
    public ModelSpec WithShape(LlamaConfig c) => this with
    {
        Layers = c.NumHiddenLayers,
        Hidden = c.HiddenSize,
        Intermediate = c.IntermediateSize,
        Heads = c.NumAttentionHeads,
        KvHeads = c.NumKeyValueHeads,
        HeadDim = c.HeadDim,
        Vocab = c.VocabSize,
    };

    /// <summary>This declaration re-shaped to another base: the same groups spread over the config's layers by the
    /// generator's rule (layer l of L in group floor(l n / L), <see cref="DeclarationShapes.GroupOf"/>: any layer count
    /// works, e.g. 4 groups on 5 layers are 2-1-1-1 layers), base sizes taken from the config, the compile-time parameter
    /// count dropped (the model counts its own). Throws <see cref="ArgumentException"/> beyond the layer limit.</summary>
    public ModelSpec ShapedTo(LlamaConfig c)
    {
        if (Matches(c)) return this;
        if (c.NumHiddenLayers > DeclarationShapes.MaxLayers)
            throw new ArgumentException($"{Name}: the base has {c.NumHiddenLayers} layers, more than the {DeclarationShapes.MaxLayers} a declaration may have "
                                        + "(the generator's MOE049); is num_hidden_layers in config.json right?");
        return WithShape(c) with { TrainableParameters = 0 };
    }

    private bool Matches(LlamaConfig c)
        => Layers == c.NumHiddenLayers && Hidden == c.HiddenSize && Intermediate == c.IntermediateSize && Heads == c.NumAttentionHeads
           && KvHeads == c.NumKeyValueHeads && HeadDim == c.HeadDim && Vocab == c.VocabSize;

    /// <summary>Throws <see cref="ModelFormatException"/> naming the first field where a checkpoint's config differs from the declaration.</summary>
    public void EnsureMatches(LlamaConfig c, string configFile)
    {
        var pairs = new (string Field, long Declared, long Actual)[]
        {
            ("num_hidden_layers", Layers, c.NumHiddenLayers), ("hidden_size", Hidden, c.HiddenSize),
            ("intermediate_size", Intermediate, c.IntermediateSize), ("num_attention_heads", Heads, c.NumAttentionHeads),
            ("num_key_value_heads", KvHeads, c.NumKeyValueHeads), ("vocab_size", Vocab, c.VocabSize), ("head_dim", HeadDim, c.HeadDim),
        };
        foreach (var (field, declared, actual) in pairs)
            if (declared != actual)
                throw new ModelFormatException(configFile, field, $"is {actual} but {Name} was declared for {declared}; change [BaseModel] or use a matching checkpoint");
    }
}

/// <summary>GMoE's Poisson distinction and Normal balance losses (0 turns one off).</summary>
/// <param name="Poisson">Poisson distinction coefficient.</param>
/// <param name="Normal">Normal balance coefficient.</param>
/// <param name="Lambda">Initial Poisson lambda.</param>
/// <param name="Form">Divergence form.</param>
/// <param name="NormalScope">What the Normal target is normalised over (the reference: all layers stacked).</param>
/// <param name="CountPadding">Whether padding tokens count in both losses and the running load (the reference: yes).</param>
public sealed record GraphLossSettings(double Poisson, double Normal, double Lambda, GraphLossForm Form,
                                       GraphNormalScope NormalScope = DslDefaults.GraphNormalScope, bool CountPadding = DslDefaults.GraphCountPadding)
{
    /// <summary>GMoE's reference configuration.</summary>
    public static GraphLossSettings Default { get; } = new(DslDefaults.PoissonCoefficient, DslDefaults.NormalCoefficient, DslDefaults.PoissonLambda, DslDefaults.GraphLossForm);
}
