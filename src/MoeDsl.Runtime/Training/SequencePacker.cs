using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Runtime.Training;

/// <summary>The rows <see cref="SequencePacker.Pack"/> made.</summary>
/// <param name="Rows">Packed sequences (<see cref="TokenSequence.Segments"/> set), in the order they were opened.</param>
/// <param name="Examples">Examples packed (all of the input: none is dropped).</param>
/// <param name="Truncated">Examples longer than the row, cut to its first <paramref name="RowLength"/> tokens.</param>
/// <param name="RowLength">The row length.</param>
public sealed record PackedPool(IReadOnlyList<TokenSequence> Rows, int Examples, int Truncated, int RowLength)
{
    /// <summary>Tokens in the rows over the rows' capacity (rows x row length): 1 - the padding share.</summary>
    public double Fill => Rows.Count == 0 ? 0 : Rows.Sum(r => (double)r.Ids.Length) / ((double)Rows.Count * RowLength);
}

/// <summary>Sequence packing: several examples per training sequence, as LLaMA-Factory's <c>neat_packing</c> and TRL's
/// padding-free packing, but exact. Each example keeps its ids and labels; the label of its first token becomes
/// <see cref="LanguageModelLoss.IgnoreIndex"/> (alone it is never a target, so packed it is not predicted from the
/// previous example's last token), assistant-only and prompt masks stay as they are, and the rows record the examples'
/// lengths so the model keeps attention within each example and restarts positions (<see cref="BaseModel.PackedSegments"/>).
/// <para>Rows are filled by first-fit decreasing (the bin packing LLaMA-Factory's greedy knapsack approximates): examples
/// by length, longest first (ties in input order), each into the first open row with room, else into a new row; within a
/// row the examples keep that order. Deterministic for a given input order; every example lands in exactly one row. An
/// example longer than the row is truncated to the row's first tokens and counted (the data layer already truncates to
/// the same limit, so through <c>moedsl train</c> and <c>FineTune</c> this never happens).</para></summary>
public static class SequencePacker
{
    /// <summary>Packs <paramref name="sequences"/> (single examples) into rows of at most <paramref name="rowLength"/> tokens.</summary>
    public static PackedPool Pack(IReadOnlyList<TokenSequence> sequences, int rowLength)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (rowLength < 2) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "a packed row needs at least 2 tokens");
        int truncated = 0;
        var examples = new TokenSequence[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            TokenSequence s = sequences[i];
            if (s.Segments is not null) throw new ArgumentException($"sequence {i} is already packed", nameof(sequences));
            if (s.Ids.Length != s.Labels.Length) throw new ArgumentException($"sequence {i} has {s.Ids.Length} ids but {s.Labels.Length} labels", nameof(sequences));
            if (s.Ids.Length == 0) throw new ArgumentException($"sequence {i} is empty", nameof(sequences));
            if (s.Ids.Length > rowLength)
            {
                s = new TokenSequence(s.Ids[..rowLength], s.Labels[..rowLength]);
                truncated++;
            }
            examples[i] = s;
        }

        int[] order = Enumerable.Range(0, examples.Length).OrderByDescending(i => examples[i].Ids.Length).ThenBy(i => i).ToArray();
        var rows = new List<List<int>>();
        var free = new FirstFit(examples.Length);
        foreach (int i in order)
        {
            int length = examples[i].Ids.Length;
            int row = free.FirstWithRoom(length);
            if (row < 0)
            {
                row = rows.Count;
                rows.Add(new List<int>());
                free.Open(row, rowLength);
            }
            rows[row].Add(i);
            free.Take(row, length);
        }
        var packed = rows.Select(members => Row(members.Select(i => examples[i]).ToList())).ToList();
        return new PackedPool(packed, examples.Length, truncated, rowLength);
    }

    private static TokenSequence Row(IReadOnlyList<TokenSequence> members)
    {
        long[] ids = members.SelectMany(m => m.Ids).ToArray();
        long[] labels = members.SelectMany(m => m.Labels).ToArray();
        int at = 0;
        foreach (TokenSequence m in members)
        {
            labels[at] = LanguageModelLoss.IgnoreIndex;
            at += m.Ids.Length;
        }
        return new TokenSequence(ids, labels) { Segments = members.Select(m => m.Ids.Length).ToArray() };
    }

    /// <summary>A max segment tree over the rows' free space: the leftmost row with room in O(log n).</summary>
    private sealed class FirstFit
    {
        private readonly int leaves;
        private readonly int[] max;

        public FirstFit(int capacity)
        {
            leaves = 1;
            while (leaves < Math.Max(1, capacity)) leaves *= 2;
            max = new int[2 * leaves];
        }

        public void Open(int row, int room) => Set(row, room);

        public void Take(int row, int tokens) => Set(row, max[leaves + row] - tokens);

        public int FirstWithRoom(int need)
        {
            if (max[1] < need) return -1;
            int node = 1;
            while (node < leaves) node = max[2 * node] >= need ? 2 * node : 2 * node + 1;
            return node - leaves;
        }

        private void Set(int row, int value)
        {
            int node = leaves + row;
            max[node] = value;
            for (node /= 2; node >= 1; node /= 2) max[node] = Math.Max(max[2 * node], max[2 * node + 1]);
        }
    }
}
