using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Data;
using static TorchSharp.torch;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Runtime.Training;

/// <summary>One tokenised training sequence: ids and, per position, the label to score (or -100 to skip, e.g. a masked
/// prompt). Labels are aligned with ids (the loss shifts them).</summary>
public sealed record TokenSequence(long[] Ids, long[] Labels)
{
    /// <summary>Lengths of the examples packed into this sequence, in order, summing to the length of <see cref="Ids"/>
    /// (<see cref="SequencePacker"/>); null for a sequence of one example.</summary>
    public IReadOnlyList<int>? Segments { get; init; }

    /// <summary>A sequence whose every token is scored.</summary>
    public static TokenSequence Plain(long[] ids) => new(ids, (long[])ids.Clone());

    /// <summary>The ids and labels of a sequence the data layer built (its task and line are dropped).</summary>
    public static TokenSequence Of(TrainingSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        return new(sequence.InputIds, sequence.Labels);
    }
}

/// <summary>A right-padded batch on a device: ids [B, L], labels [B, L] (-100 on padding), mask [B, L] (1 = real token).
/// Right padding needs no attention mask: causal attention never lets a real token see the padding after it. A batch of
/// packed sequences (<see cref="TokenSequence.Segments"/>) also carries <see cref="Packing"/>: where each example lies,
/// for the block-diagonal mask and the restarting positions.</summary>
public sealed class TokenBatch : IDisposable
{
    /// <summary>A batch over tensors the batch now owns (disposed with it); <paramref name="scoredTokens"/> is the number of positions the loss scores.</summary>
    public TokenBatch(Tensor inputIds, Tensor labels, Tensor mask, long scoredTokens)
    {
        InputIds = inputIds;
        Labels = labels;
        Mask = mask;
        ScoredTokens = scoredTokens;
    }

    /// <summary>[B, L] int64.</summary>
    public Tensor InputIds { get; }
    /// <summary>[B, L] int64, -100 where not scored.</summary>
    public Tensor Labels { get; }
    /// <summary>[B, L] 1 for real tokens, 0 for padding.</summary>
    public Tensor Mask { get; }
    /// <summary>Positions that contribute to the loss.</summary>
    public long ScoredTokens { get; }
    /// <summary>Positions in the batch, padding included (B x L).</summary>
    public long Tokens => Mask.shape[0] * Mask.shape[1];
    /// <summary>Real (non-padding) tokens, counted when the batch was made (-1 when built from tensors).</summary>
    public long RealTokens { get; private init; } = -1;
    /// <summary>Where the examples of packed rows lie, or null when every row is one example.</summary>
    public PackedSegments? Packing { get; private init; }

    /// <summary>Pads and stacks sequences.</summary>
    public static TokenBatch From(IReadOnlyList<TokenSequence> sequences, long padId, Device? device = null)
    {
        if (sequences.Count == 0) throw new ArgumentException("a batch needs at least one sequence", nameof(sequences));
        int length = 0;
        foreach (var s in sequences)
        {
            if (s.Ids.Length != s.Labels.Length) throw new ArgumentException("ids and labels must have the same length");
            length = Math.Max(length, s.Ids.Length);
        }
        if (length < 2) throw new ArgumentException("sequences need at least two tokens to score a next token");
        int b = sequences.Count;
        var ids = new long[b * length];
        var labels = new long[b * length];
        var mask = new long[b * length];
        long scored = 0, realTokens = 0;
        for (int i = 0; i < b; i++)
        {
            var s = sequences[i];
            for (int j = 0; j < length; j++)
            {
                bool real = j < s.Ids.Length;
                ids[i * length + j] = real ? s.Ids[j] : padId;
                labels[i * length + j] = real ? s.Labels[j] : LanguageModelLoss.IgnoreIndex;
                mask[i * length + j] = real ? 1 : 0;
                if (real && j > 0 && s.Labels[j] != LanguageModelLoss.IgnoreIndex) scored++;
            }
            realTokens += s.Ids.Length;
        }
        Device d = device ?? CPU;
        PackedSegments? packing = null;
        foreach (var s in sequences)
            if (s.Segments is { } segments && segments.Sum() != s.Ids.Length)
                throw new ArgumentException($"a packed sequence's segments ({string.Join(" + ", segments)}) do not add up to its {s.Ids.Length} tokens");
        if (sequences.Any(s => s.Segments is not null))
            packing = PackedSegments.FromLengths(sequences.Select(s => s.Segments ?? new[] { s.Ids.Length }).ToList(), length, d);
        return new TokenBatch(
            tensor(ids, new long[] { b, length }, ScalarType.Int64, d),
            tensor(labels, new long[] { b, length }, ScalarType.Int64, d),
            tensor(mask, new long[] { b, length }, ScalarType.Int64, d),
            scored)
        { RealTokens = realTokens, Packing = packing };
    }

    /// <summary><paramref name="sequences"/> in order, as batches of at most <paramref name="batchSize"/> (evaluation);
    /// each batch is created when enumerated and owned by the caller.</summary>
    public static IEnumerable<TokenBatch> Chunks(IReadOnlyList<TokenSequence> sequences, int batchSize, long padId, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be at least 1");
        for (int start = 0; start < sequences.Count; start += batchSize)
            yield return From(sequences.Skip(start).Take(batchSize).ToList(), padId, device);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        Labels.Dispose();
        Mask.Dispose();
        Packing?.Dispose();
    }
}
