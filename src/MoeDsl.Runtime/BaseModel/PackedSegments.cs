using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Where the examples of packed rows lie (sequence packing, <see cref="Training.SequencePacker"/>): per token
/// the index of its example within its row and its position within that example. Attention then stays inside each example
/// (a block-diagonal causal mask, LLaMA-Factory's <c>neat_packing</c>) and rotary positions restart at 0 for each
/// example, so every example's logits are those it has alone. Padding after the last example is one more segment of its
/// own (it sees only padding, so no query row is fully masked). Owns its two tensors.</summary>
public sealed class PackedSegments : IDisposable
{
    /// <summary>Segments over <paramref name="segmentIds"/> and <paramref name="positions"/>, both [B, L] int64, which this
    /// object now owns.</summary>
    public PackedSegments(Tensor segmentIds, Tensor positions)
    {
        ArgumentNullException.ThrowIfNull(segmentIds);
        ArgumentNullException.ThrowIfNull(positions);
        if (segmentIds.dim() != 2 || !segmentIds.shape.SequenceEqual(positions.shape))
            throw new ArgumentException($"segment ids [{string.Join(", ", segmentIds.shape)}] and positions [{string.Join(", ", positions.shape)}] must both be [B, L]");
        SegmentIds = segmentIds;
        Positions = positions;
    }

    /// <summary>[B, L] int64: the example each token belongs to, 0, 1, ... within its row (padding: one more).</summary>
    public Tensor SegmentIds { get; }
    /// <summary>[B, L] int64: each token's position within its example, from 0.</summary>
    public Tensor Positions { get; }

    /// <summary>Segments of rows made of examples of the given lengths, each row right-padded to <paramref name="length"/>
    /// (the padding is a segment of its own, its positions from 0 too).</summary>
    public static PackedSegments FromLengths(IReadOnlyList<IReadOnlyList<int>> rows, int length, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var segments = new long[rows.Count * length];
        var positions = new long[rows.Count * length];
        for (int r = 0; r < rows.Count; r++)
        {
            int at = 0, segment = 0;
            foreach (int n in rows[r].Append(length - rows[r].Sum()))
            {
                if (n < 0 || at + n > length) throw new ArgumentException($"row {r}'s examples ({string.Join(" + ", rows[r])} tokens) do not fit in {length} tokens");
                for (int i = 0; i < n; i++)
                {
                    segments[r * length + at + i] = segment;
                    positions[r * length + at + i] = i;
                }
                at += n;
                segment++;
            }
        }
        long[] shape = { rows.Count, length };
        Device d = device ?? CPU;
        return new PackedSegments(tensor(segments, shape, ScalarType.Int64, d), tensor(positions, shape, ScalarType.Int64, d));
    }

    /// <summary>Which keys each query sees ([B, 1, L, L], true = attend): key j for query i when both are in the same
    /// example and j &lt;= i, and with a <paramref name="window"/> w also when i - j &lt; w (the window measured within the
    /// example, as for that example alone).</summary>
    public Tensor Mask(int? window)
    {
        using var scope = NewDisposeScope();
        long l = SegmentIds.shape[1];
        Tensor index = arange(l, dtype: ScalarType.Int64, device: SegmentIds.device);
        Tensor visible = SegmentIds.unsqueeze(2).eq(SegmentIds.unsqueeze(1)).logical_and(index.unsqueeze(0).le(index.unsqueeze(1)).unsqueeze(0));
        if (window is int w) visible = visible.logical_and(index.unsqueeze(1).sub(index.unsqueeze(0)).lt(w).unsqueeze(0));
        return visible.unsqueeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>The masks of every window in <paramref name="windows"/> (null: none), built once per forward.</summary>
    public PackedMasks Masks(IEnumerable<int?> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        return new PackedMasks(windows.Distinct().ToDictionary(w => w ?? 0, w => Mask(w)));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        SegmentIds.Dispose();
        Positions.Dispose();
    }
}

/// <summary>The block-diagonal causal masks of one forward over packed rows, one per sliding window the layers use
/// (<see cref="PackedSegments.Masks"/>); read by <see cref="LlamaAttention"/> through <see cref="AttentionContext.Packed"/>.</summary>
public sealed class PackedMasks
{
    private readonly IReadOnlyDictionary<int, Tensor> byWindow;

    internal PackedMasks(IReadOnlyDictionary<int, Tensor> byWindow) => this.byWindow = byWindow;

    /// <summary>The mask [B, 1, L, L] of a layer with <paramref name="window"/> (null: no window).</summary>
    public Tensor For(int? window) => byWindow[window ?? 0];
}
