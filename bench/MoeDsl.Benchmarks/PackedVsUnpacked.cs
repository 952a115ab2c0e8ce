using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Benchmarks;

/// <summary><c>packed_over_unpacked_tokens_per_s</c>: real (non-padding) tokens per second of the trainer's own steps
/// (<see cref="Trainer.Step"/>: forward, LM + auxiliary loss, backward, clipping, AdamW) over one pass of a data set of
/// mixed lengths (32 examples, uniform 16..256 tokens), MixLoRA on the run's base shape: packed into rows of 256 tokens
/// (<see cref="SequencePacker"/>, block-diagonal attention) over unpacked (each batch right-padded to its longest
/// example, as <see cref="SequencePoolBatches"/> makes them). Both batch 4 sequences and see the same tokens.</summary>
internal static class PackedVsUnpacked
{
    private const int Examples = 32, BatchSize = 4, RowLength = 256, MinLength = 16;

    public static void Run(Options options, Report report)
    {
        LlamaConfig c = options.Shape.Config;
        ModelSpec spec = Specs.MixLora(c);
        using SpecModel model = Specs.Build(c, spec, 1);
        var rng = new Random(5);
        var examples = Enumerable.Range(0, Examples).Select(_ =>
        {
            int n = rng.Next(MinLength, RowLength + 1);
            long[] ids = Enumerable.Range(0, n).Select(_ => (long)rng.Next(2, c.VocabSize)).ToArray();
            return TokenSequence.Plain(ids);
        }).ToList();
        PackedPool packed = SequencePacker.Pack(examples, RowLength);
        long realTokens = examples.Sum(e => (long)e.Ids.Length);
        long paddedPositions = Chunks(examples).Sum(b => (long)b.Count * b.Max(s => s.Ids.Length));
        long packedPositions = Chunks(packed.Rows).Sum(b => (long)b.Count * b.Max(s => s.Ids.Length));

        using var trainer = new Trainer(model, new TrainerOptions { Steps = 1_000_000, LearningRate = 1e-5, Schedule = ScheduleKind.Constant });
        int step = 0;
        double Pass(IReadOnlyList<TokenSequence> pool)
        {
            var sw = Stopwatch.StartNew();
            foreach (List<TokenSequence> batch in Chunks(pool)) trainer.Step(++step, new FixedBatch(batch));
            double rate = realTokens / sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(Invariant.Culture, $"    pass of {pool.Count} {(ReferenceEquals(pool, examples) ? "examples" : "packed rows")}: {rate:F0} real tokens/s"));
            return rate;
        }
        var (a, b, ratio, _) = Measure.Interleave(options, () => Pass(packed.Rows), () => Pass(examples));
        Console.WriteLine(string.Create(Invariant.Culture, $"  packed_over_unpacked_tokens_per_s: {a:F0} vs {b:F0} real tokens/s, ratio {ratio:F3}"));
        report.Add(new Figure("packed_over_unpacked_tokens_per_s",
            $"packed: {packed.Rows.Count} rows of {RowLength} ({packed.Fill:P0} full)", $"unpacked: {Examples} examples, batch {BatchSize}",
            a, b, ratio, "real tok/s", "> 1"));
        report.Note(string.Create(Invariant.Culture,
            $"packed_over_unpacked_tokens_per_s: {spec.Name}, {Examples} examples of {MinLength}..{RowLength} tokens ({realTokens} real tokens); positions processed per pass {packedPositions} packed vs {paddedPositions} padded ({(double)paddedPositions / packedPositions:F3}x); a pass = one trainer step per batch of {BatchSize}"));
    }

    private static IEnumerable<List<TokenSequence>> Chunks(IReadOnlyList<TokenSequence> pool)
    {
        for (int i = 0; i < pool.Count; i += BatchSize) yield return pool.Skip(i).Take(BatchSize).ToList();
    }

    /// <summary>One given batch (the trainer disposes it).</summary>
    private sealed class FixedBatch(IReadOnlyList<TokenSequence> sequences) : IBatchSource
    {
        public TokenBatch Next() => TokenBatch.From(sequences, padId: 0);
    }
}
