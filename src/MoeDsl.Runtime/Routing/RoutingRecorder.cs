using System.Collections.Generic;

namespace MoeDsl.Runtime.Routing;

/// <summary>One routing decision made during a forward: which layer, which projection (or "mlp"), what was decided.</summary>
public sealed record RoutingRecord(int Layer, string Site, Router Router, RoutingDecision Decision);

/// <summary>Collects the routing decisions of one forward so the model can compute auxiliary losses and load statistics.
/// One per model; cleared at the start of every forward.</summary>
public sealed class RoutingRecorder
{
    private readonly List<RoutingRecord> records = new();

    /// <summary>Whether decisions are kept (training, or statistics requested).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The decisions of the current forward, in execution order.</summary>
    public IReadOnlyList<RoutingRecord> Records => records;

    /// <summary>Keeps a decision: its tensors leave their dispose scopes and live until <see cref="Clear"/>.</summary>
    public void Add(int layer, string site, Router router, RoutingDecision decision)
    {
        if (Enabled) records.Add(new RoutingRecord(layer, site, router, decision.DetachFromDisposeScope()));
    }

    /// <summary>Disposes and forgets the records.</summary>
    public void Clear()
    {
        foreach (RoutingRecord r in records) r.Decision.Dispose();
        records.Clear();
    }
}
