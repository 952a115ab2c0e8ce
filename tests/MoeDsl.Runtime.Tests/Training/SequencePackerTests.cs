using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Training;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Training;

/// <summary>The packer's rows and a packed batch's masks, positions and labels against hand-written arrays.</summary>
public sealed class SequencePackerTests
{
    private const long X = -100; // ignored label

    private static TokenSequence Seq(long[] ids, long[] labels) => new(ids, labels);

    [Fact]
    public void Rows_are_first_fit_decreasing_and_labels_never_cross_a_boundary()
    {
        // Lengths 3, 5, 2, 4, 1 into rows of 7. Longest first: 5 -> row 0 (2 left), 4 -> row 1 (3 left), 3 -> row 1 (0 left),
        // 2 -> row 0 (0 left), 1 -> row 2.
        var a = Seq(new long[] { 1, 10, 11 }, new long[] { X, 10, 11 });
        var b = Seq(new long[] { 1, 20, 21, 22, 23 }, new long[] { X, X, X, 22, 23 });   // assistant-only: 22, 23 learned
        var c = Seq(new long[] { 1, 30 }, new long[] { X, 30 });
        var d = Seq(new long[] { 1, 40, 41, 42 }, new long[] { X, 40, X, 42 });
        var e = Seq(new long[] { 50 }, new long[] { 50 });
        PackedPool pool = SequencePacker.Pack(new[] { a, b, c, d, e }, 7);

        Assert.Equal(5, pool.Examples);
        Assert.Equal(0, pool.Truncated);
        Assert.Equal(3, pool.Rows.Count);
        Assert.Equal(new long[] { 1, 20, 21, 22, 23, 1, 30 }, pool.Rows[0].Ids);
        Assert.Equal(new long[] { X, X, X, 22, 23, X, 30 }, pool.Rows[0].Labels);
        Assert.Equal(new[] { 5, 2 }, pool.Rows[0].Segments);
        Assert.Equal(new long[] { 1, 40, 41, 42, 1, 10, 11 }, pool.Rows[1].Ids);
        Assert.Equal(new long[] { X, 40, X, 42, X, 10, 11 }, pool.Rows[1].Labels);
        Assert.Equal(new[] { 4, 3 }, pool.Rows[1].Segments);
        Assert.Equal(new long[] { 50 }, pool.Rows[2].Ids);
        Assert.Equal(new long[] { X }, pool.Rows[2].Labels);   // a first token is never a target, alone or packed
        Assert.Equal(new[] { 1 }, pool.Rows[2].Segments);
        Assert.Equal(15.0 / 21, pool.Fill, 12);
    }

    [Fact]
    public void An_example_longer_than_the_row_is_truncated_and_counted()
    {
        var longOne = Seq(new long[] { 1, 2, 3, 4, 5, 6 }, new long[] { X, 2, 3, 4, 5, 6 });
        var shortOne = Seq(new long[] { 1, 9 }, new long[] { X, 9 });
        PackedPool pool = SequencePacker.Pack(new[] { shortOne, longOne }, 4);
        Assert.Equal(1, pool.Truncated);
        Assert.Equal(2, pool.Examples);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, pool.Rows[0].Ids);
        Assert.Equal(new long[] { X, 2, 3, 4 }, pool.Rows[0].Labels);
        Assert.Equal(new long[] { 1, 9 }, pool.Rows[1].Ids);
    }

    [Fact]
    public void Packing_is_deterministic_and_keeps_every_example_once()
    {
        var rng = new Random(3);
        var examples = Enumerable.Range(0, 500).Select(i =>
        {
            int n = rng.Next(1, 65);
            long[] ids = Enumerable.Range(0, n).Select(j => (long)(i * 1000 + j)).ToArray(); // ids name the example
            return Seq(ids, (long[])ids.Clone());
        }).ToList();
        PackedPool first = SequencePacker.Pack(examples, 64), second = SequencePacker.Pack(examples, 64);
        Assert.Equal(first.Rows.Count, second.Rows.Count);
        for (int r = 0; r < first.Rows.Count; r++)
        {
            Assert.Equal(first.Rows[r].Ids, second.Rows[r].Ids);
            Assert.Equal(first.Rows[r].Segments, second.Rows[r].Segments);
        }
        // Every example exactly once, whole and contiguous, where the segments say.
        var seen = new List<long>();
        foreach (TokenSequence row in first.Rows)
        {
            Assert.True(row.Ids.Length <= 64);
            int at = 0;
            foreach (int n in row.Segments!)
            {
                long example = row.Ids[at] / 1000;
                Assert.Equal(Enumerable.Range(0, n).Select(j => example * 1000 + j), row.Ids.Skip(at).Take(n));
                seen.Add(example);
                at += n;
            }
            Assert.Equal(row.Ids.Length, at);
        }
        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), seen.Order());
        // The same rows as a naive first-fit decreasing: a linear scan of the open rows for each example, longest first.
        var naive = new List<(int Room, List<long> Examples)>();
        foreach (int i in Enumerable.Range(0, examples.Count).OrderByDescending(i => examples[i].Ids.Length).ThenBy(i => i))
        {
            int n = examples[i].Ids.Length, row = naive.FindIndex(r => r.Room >= n);
            if (row < 0) { naive.Add((64, new List<long>())); row = naive.Count - 1; }
            naive[row] = (naive[row].Room - n, naive[row].Examples.Append(i).ToList());
        }
        Assert.Equal(naive.Select(r => r.Examples).ToArray(), first.Rows.Select(r => RowExamples(r)).ToArray());
    }

    private static List<long> RowExamples(TokenSequence row)
    {
        var result = new List<long>();
        int at = 0;
        foreach (int n in row.Segments!) { result.Add(row.Ids[at] / 1000); at += n; }
        return result;
    }

    [Fact]
    public void Already_packed_or_empty_input_is_refused()
    {
        PackedPool pool = SequencePacker.Pack(new[] { Seq(new long[] { 1, 2 }, new long[] { X, 2 }) }, 4);
        Assert.Contains("already packed", Assert.Throws<ArgumentException>(() => SequencePacker.Pack(pool.Rows, 4)).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => SequencePacker.Pack(new[] { Seq(Array.Empty<long>(), Array.Empty<long>()) }, 4)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SequencePacker.Pack(pool.Rows, 1));
    }

    [Fact]
    public void A_packed_batch_has_restarting_positions_segment_ids_and_a_block_diagonal_mask()
    {
        // Row 0: examples of 3 and 2 tokens; row 1: one example of 4 tokens then 1 padding position.
        var rows = new[]
        {
            new TokenSequence(new long[] { 1, 5, 6, 1, 7 }, new long[] { X, 5, 6, X, 7 }) { Segments = new[] { 3, 2 } },
            new TokenSequence(new long[] { 1, 8, 9, 10 }, new long[] { X, 8, 9, 10 }) { Segments = new[] { 4 } },
        };
        using var batch = TokenBatch.From(rows, padId: 0);
        Assert.NotNull(batch.Packing);
        Assert.Equal(new long[] { 0, 1, 2, 0, 1, 0, 1, 2, 3, 0 }, batch.Packing!.Positions.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 0, 0, 1, 1, 0, 0, 0, 0, 1 }, batch.Packing.SegmentIds.data<long>().ToArray());
        Assert.Equal(new long[] { X, 5, 6, X, 7, X, 8, 9, 10, X }, batch.Labels.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 }, batch.Mask.data<long>().ToArray());
        Assert.Equal(6, batch.ScoredTokens); // targets at 1, 2, 4 and 6, 7, 8; never a first token
        Assert.Equal(9, batch.RealTokens);

        using var mask = batch.Packing.Mask(null);
        Assert.Equal(new long[] { 2, 1, 5, 5 }, mask.shape);
        bool[] expected =
        {
            // row 0: [0 1 2 | 3 4]
            true, false, false, false, false,
            true, true, false, false, false,
            true, true, true, false, false,
            false, false, false, true, false,
            false, false, false, true, true,
            // row 1: [0 1 2 3 | pad]
            true, false, false, false, false,
            true, true, false, false, false,
            true, true, true, false, false,
            true, true, true, true, false,
            false, false, false, false, true,
        };
        Assert.Equal(expected, mask.data<bool>().ToArray());

        // A window of 2: a token sees itself and the one before it, within its example.
        using var windowed = batch.Packing.Mask(2);
        bool[] expectedWindow =
        {
            true, false, false, false, false,
            true, true, false, false, false,
            false, true, true, false, false,
            false, false, false, true, false,
            false, false, false, true, true,
            true, false, false, false, false,
            true, true, false, false, false,
            false, true, true, false, false,
            false, false, true, true, false,
            false, false, false, false, true,
        };
        Assert.Equal(expectedWindow, windowed.data<bool>().ToArray());
    }

    [Fact]
    public void An_unpacked_batch_has_no_packing_and_segments_must_add_up()
    {
        using (var plain = TokenBatch.From(new[] { TokenSequence.Plain(new long[] { 1, 2, 3 }) }, 0))
            Assert.Null(plain.Packing);
        var wrong = new TokenSequence(new long[] { 1, 2, 3 }, new long[] { X, 2, 3 }) { Segments = new[] { 2 } };
        Assert.Contains("do not add up", Assert.Throws<ArgumentException>(() => TokenBatch.From(new[] { wrong }, 0)).Message);
    }

    [Fact]
    public void Per_row_rotary_tables_equal_the_tables_of_each_position()
    {
        var rotary = new RotaryEmbedding(8, 10000);
        using var scope = NewDisposeScope();
        var (cos, sin) = rotary.Tables(0, 6, CPU);
        Tensor positions = tensor(new long[] { 0, 1, 2, 0, 1, 5 }, new long[] { 1, 6 });
        var (rowCos, rowSin) = rotary.Tables(positions);
        Assert.Equal(new long[] { 1, 1, 6, 8 }, rowCos.shape);
        long[] picked = { 0, 1, 2, 0, 1, 5 };
        for (int i = 0; i < picked.Length; i++)
        {
            Assert.Equal(cos[picked[i]].data<float>().ToArray(), rowCos[0, 0, i].data<float>().ToArray());
            Assert.Equal(sin[picked[i]].data<float>().ToArray(), rowSin[0, 0, i].data<float>().ToArray());
        }
    }
}
