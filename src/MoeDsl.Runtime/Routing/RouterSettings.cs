namespace MoeDsl.Runtime.Routing;

/// <summary>A declared router: its kind and only the settings that kind has. Top-k lives in the
/// <see cref="Modeling.ExpertGroup"/>s (it may differ per group).</summary>
public abstract record RouterSettings
{
    /// <summary>The routing rule.</summary>
    public abstract RouterKind Kind { get; }
}

/// <summary>The routers that are one bias-free linear map d -&gt; E followed by a rule on the probabilities.</summary>
public abstract record LinearRouterSettings : RouterSettings
{
    /// <summary>Multiplicative jitter on the router input while training (0 = off).</summary>
    public double JitterNoise { get; init; } = DslDefaults.JitterNoise;
}

/// <summary>Softmax, top-k, weights renormalised (MixLoRA, MoLA).</summary>
public sealed record TopKRouterSettings : LinearRouterSettings
{
    /// <inheritdoc />
    public override RouterKind Kind => RouterKind.TopK;
}

/// <summary>The smallest prefix of sorted probabilities reaching <see cref="P"/>, not renormalised (MoE-PEFT's dynamic router).</summary>
public sealed record TopPRouterSettings : LinearRouterSettings
{
    /// <inheritdoc />
    public override RouterKind Kind => RouterKind.TopP;
    /// <summary>Probability mass, in (0, 1].</summary>
    public double P { get; init; } = DslDefaults.TopP;
}

/// <summary>Top-1 with per-sequence capacity and a router z-loss (Switch Transformer).</summary>
public sealed record SwitchRouterSettings : LinearRouterSettings
{
    /// <inheritdoc />
    public override RouterKind Kind => RouterKind.Switch;
    /// <summary>Capacity = ceil(factor * tokens / experts) per sequence.</summary>
    public double CapacityFactor { get; init; } = DslDefaults.CapacityFactor;
    /// <summary>Router z-loss coefficient (0 = off).</summary>
    public double ZLossCoefficient { get; init; } = DslDefaults.ZLossCoefficient;
}

/// <summary>Dense softmax over all experts (LoRAMoE).</summary>
public sealed record SoftRouterSettings : LinearRouterSettings
{
    /// <inheritdoc />
    public override RouterKind Kind => RouterKind.Soft;
}

/// <summary>GMoE's GCN router over the expert nodes and the token node.</summary>
public sealed record GraphRouterSettings : RouterSettings
{
    /// <inheritdoc />
    public override RouterKind Kind => RouterKind.Graph;
    /// <summary>GCN width g.</summary>
    public int Hidden { get; init; } = DslDefaults.GraphHidden;
    /// <summary>GCN layers.</summary>
    public int Layers { get; init; } = DslDefaults.GraphLayers;
    /// <summary>Expert-expert edge density (diagonal included).</summary>
    public double Density { get; init; } = DslDefaults.GraphDensity;
    /// <summary>Rebuild the graph from the trained weights when an adapter is loaded (GMoE's behaviour), or keep the
    /// saved graph the adapter was trained with (false). Training checkpoints always resume with the saved graph.</summary>
    public bool RebuiltAtLoad { get; init; } = DslDefaults.GraphRebuiltAtLoad;
}
