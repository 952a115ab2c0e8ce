using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Benchmarks;

/// <summary>The measurement behind the train-step figures: one full train step of model A over model B, both built on
/// the run's shape and stepped alternately; adds the figure and a note with the per-phase medians.</summary>
internal static class TrainStepComparison
{
    /// <summary>Measures the figure and returns the per-phase medians of A and B (warm-up steps excluded).</summary>
    public static (StepTimes A, StepTimes B) Run(Options options, Report report, string name, ModelSpec specA, ModelSpec specB, string goal)
    {
        BenchShape shape = options.Shape;
        using var a = TrainStep.Create(specA, shape, options.Execution);
        using var b = TrainStep.Create(specB, shape, options.Execution);
        var stepsA = new List<StepTimes>();
        var stepsB = new List<StepTimes>();
        var (ma, mb, ratio, _) = Measure.Interleave(options, () => Record(a, stepsA), () => Record(b, stepsB));
        Console.WriteLine(string.Create(Invariant.Culture, $"  {name}: {ma:F0} vs {mb:F0} ms/step, ratio {ratio:F3}"));
        report.Add(new Figure(name, $"{specA.Name} ({a.TrainableParameters:N0} trainable)", $"{specB.Name} ({b.TrainableParameters:N0} trainable)", ma, mb, ratio, "ms/step", goal));
        // The warm-up steps are in the lists too: drop them.
        StepTimes pa = Medians(stepsA.Skip(options.Warmup)), pb = Medians(stepsB.Skip(options.Warmup));
        report.Note(string.Create(Invariant.Culture, $"{name}: forward {pa.Forward:F0} vs {pb.Forward:F0} ms ({pa.Forward / pb.Forward:F3}x), backward {pa.Backward:F0} vs {pb.Backward:F0} ms ({pa.Backward / pb.Backward:F3}x), AdamW+zero_grad {pa.Optimizer:F1} vs {pb.Optimizer:F1} ms"));
        return (pa, pb);
    }

    private static double Record(TrainStep step, List<StepTimes> into)
    {
        StepTimes t = step.Run();
        into.Add(t);
        return t.Total;
    }

    /// <summary>Each phase's median on its own (so the result's <see cref="StepTimes.Total"/> is not a median step).</summary>
    private static StepTimes Medians(IEnumerable<StepTimes> steps)
    {
        StepTimes[] s = steps.ToArray();
        return new StepTimes(Measure.Median(s.Select(t => t.Forward)), Measure.Median(s.Select(t => t.Backward)), Measure.Median(s.Select(t => t.Optimizer)));
    }
}
