using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Benchmarks;

/// <summary><c>--steps-of lora|mixlora</c>: one method's train step alone (the train figure's models), each step's phases
/// printed, then the medians — the form a profiler attaches to, and the side MoeDsl runs in the peer comparison
/// (<c>bench/peer.sh</c>).</summary>
internal static class StepsOf
{
    public static int Run(Options options, string method)
    {
        LlamaConfig c = options.Shape.Config;
        ModelSpec spec = method == "lora" ? Specs.Lora(c, 16) : Specs.MixLora(c);
        using var step = TrainStep.Create(spec, options.Shape, options.Execution);
        for (int i = 0; i < options.Warmup; i++) step.Run();
        var times = new List<StepTimes>();
        for (int i = 0; i < options.Reps; i++)
        {
            StepTimes t = step.Run();
            times.Add(t);
            Console.WriteLine(string.Create(Invariant.Culture, $"  step {i + 1}: {t.Total:F1} ms (forward {t.Forward:F1}, backward {t.Backward:F1}, optimizer {t.Optimizer:F1})"));
        }
        double total = Measure.Median(times.Select(t => t.Total));
        Console.WriteLine(string.Create(Invariant.Culture,
            $"STEPS method={method} threads={options.Threads} ms={total:F1} fwd={Measure.Median(times.Select(t => t.Forward)):F1} bwd={Measure.Median(times.Select(t => t.Backward)):F1} opt={Measure.Median(times.Select(t => t.Optimizer)):F1}"));
        return 0;
    }
}
