using System.Collections.Generic;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>Accumulates, on the device and without host synchronisation, how many (token, slot) assignments each expert
/// of each layer received while <see cref="Tracking"/> is on. Read with <see cref="Snapshot"/>.</summary>
public sealed class ExpertLoadTracker
{
    private Tensor? counts; // [layers, maxExperts] fp64

    /// <summary>Whether forwards record their routing.</summary>
    public bool Tracking { get; set; }

    /// <summary>Adds one forward's decisions.</summary>
    public void Add(IReadOnlyList<RoutingRecord> records, int layers, Tensor? tokenMask)
    {
        using var scope = NewDisposeScope();
        Tensor? mask = tokenMask?.reshape(-1, 1).to(ScalarType.Float64);
        foreach (RoutingRecord r in records)
        {
            long e = r.Decision.ExpertCount;
            if (counts is null || counts.shape[1] < e)
            {
                Tensor grown = zeros(layers, e, dtype: ScalarType.Float64, device: r.Decision.Probs.device);
                if (counts is not null) grown.narrow(1, 0, counts.shape[1]).copy_(counts);
                counts?.Dispose();
                counts = grown.DetachFromDisposeScope();
            }
            Tensor used = r.Decision.Weights.gt(0).to(ScalarType.Float64);
            if (mask is not null) used = used * mask;
            Tensor perExpert = zeros(e, dtype: ScalarType.Float64, device: used.device).index_add_(0, r.Decision.Experts.reshape(-1), used.reshape(-1), 1.0);
            counts.select(0, r.Layer).narrow(0, 0, e).add_(perExpert.detach());
        }
    }

    /// <summary>Counts per layer and expert (host copy), or an empty array.</summary>
    public double[,] Snapshot()
    {
        if (counts is null) return new double[0, 0];
        using Tensor cpu = counts.cpu();
        var result = new double[cpu.shape[0], cpu.shape[1]];
        double[] flat = cpu.data<double>().ToArray();
        for (int i = 0; i < result.GetLength(0); i++)
            for (int j = 0; j < result.GetLength(1); j++)
                result[i, j] = flat[i * result.GetLength(1) + j];
        return result;
    }

    /// <summary>Forgets the counts.</summary>
    public void Reset()
    {
        counts?.Dispose();
        counts = null;
    }
}
