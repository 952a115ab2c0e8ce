using System;
using System.Collections.Generic;

namespace MoeDsl.Runtime.Training;

/// <summary>Batches drawn from a pool of sequences in a seeded shuffled order, epoch after epoch; the position
/// (epoch, index) fully determines the next batch, so a run can resume exactly.</summary>
public sealed class SequencePoolBatches : IBatchSource
{
    private readonly IReadOnlyList<TokenSequence> pool;
    private readonly int batchSize;
    private readonly long padId;
    private readonly int seed;
    private readonly TorchSharp.torch.Device? device;
    private int[] order = Array.Empty<int>();

    /// <summary>Batches of <paramref name="batchSize"/> sequences from <paramref name="pool"/>, padded with <paramref name="padId"/>,
    /// in an order shuffled per epoch from <paramref name="seed"/>; tensors go to <paramref name="device"/> (CPU when null).</summary>
    public SequencePoolBatches(IReadOnlyList<TokenSequence> pool, int batchSize, long padId, int seed, TorchSharp.torch.Device? device = null)
    {
        if (pool.Count == 0) throw new ArgumentException("no training sequences", nameof(pool));
        if (batchSize < 1) throw new ArgumentException($"batch size must be at least 1 (got {batchSize})", nameof(batchSize));
        this.pool = pool;
        this.batchSize = batchSize;
        this.padId = padId;
        this.seed = seed;
        this.device = device;
        Shuffle();
    }

    /// <summary>Completed passes over the pool.</summary>
    public int Epoch { get; private set; }
    /// <summary>Next index in the current epoch's order.</summary>
    public int Position { get; private set; }

    /// <summary>Moves to a saved position.</summary>
    public void Seek(int epoch, int position)
    {
        Epoch = epoch;
        Shuffle();
        Position = Math.Clamp(position, 0, pool.Count);
    }

    /// <inheritdoc />
    public TokenBatch Next()
    {
        var items = new List<TokenSequence>(batchSize);
        while (items.Count < batchSize)
        {
            if (Position >= pool.Count)
            {
                Epoch++;
                Shuffle();
                Position = 0;
            }
            items.Add(pool[order[Position++]]);
        }
        return TokenBatch.From(items, padId, device);
    }

    private void Shuffle()
    {
        var rng = new Random(unchecked(seed * 7919 + Epoch));
        order = new int[pool.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }
}
