using System;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Keys and values of past positions for incremental decoding, one pair per layer, [B, KvHeads, past, D].
/// Owns its tensors (outside every dispose scope); dispose it when decoding ends.</summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    /// <summary>Creates an empty cache for <paramref name="layers"/> layers.</summary>
    public KvCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
    }

    /// <summary>Positions already cached.</summary>
    public long Length { get; private set; }

    /// <summary>Appends this step's keys/values of a layer and returns the full ones (owned by the caller's scope).</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        Tensor fullK = keys[layer] is null ? k.alias() : cat(new[] { keys[layer]!, k }, 2);
        Tensor fullV = values[layer] is null ? v.alias() : cat(new[] { values[layer]!, v }, 2);
        keys[layer]?.Dispose();
        values[layer]?.Dispose();
        keys[layer] = fullK.detach().DetachFromDisposeScope();
        values[layer] = fullV.detach().DetachFromDisposeScope();
        return (keys[layer]!.alias(), values[layer]!.alias());
    }

    /// <summary>Marks <paramref name="newTokens"/> positions as added (called once per forward, after all layers).</summary>
    public void Advance(long newTokens) => Length += newTokens;

    /// <inheritdoc />
    public void Dispose()
    {
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = values[i] = null;
        }
    }
}
