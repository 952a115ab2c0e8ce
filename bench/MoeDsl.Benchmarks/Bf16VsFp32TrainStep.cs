using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Benchmarks;

/// <summary><c>bf16_vs_fp32_train_step_lora</c>, <c>bf16_vs_fp32_train_step_mixlora</c> and <c>peak_mem_bf16_vs_fp32</c>:
/// one full train step (and the peak RSS of a fresh process during one) with the frozen base in bf16 over the same step
/// with it in fp32 (docs/precision.md); LoRA, routers, losses and AdamW are fp32 in both.</summary>
internal static class Bf16VsFp32TrainStep
{
    /// <summary>The memory-child variant suffix for a bf16 base.</summary>
    public const string Suffix = "-bf16";

    /// <summary>Child processes per variant for the memory figure.</summary>
    private const int Processes = 2;

    public static void Run(Options options, Report report)
    {
        LlamaConfig c = options.Shape.Config;
        foreach (var (label, spec) in new[] { ("lora", Specs.Lora(c, 16)), ("mixlora", Specs.MixLora(c)) })
            Time(options, report, $"bf16_vs_fp32_train_step_{label}", spec);

        foreach (string variant in new[] { "lora16", "mixlora" })
        {
            var fp32 = new List<long>();
            var bf16 = new List<long>();
            for (int i = 0; i < Processes; i++)
            {
                fp32.Add(PeakMemoryMoeVsLora.Start(options, variant).Peak);
                bf16.Add(PeakMemoryMoeVsLora.Start(options, variant + Suffix).Peak);
            }
            double a = Measure.Median(bf16.Select(x => (double)x)) / (1024.0 * 1024.0), b = Measure.Median(fp32.Select(x => (double)x)) / (1024.0 * 1024.0);
            report.Add(new Figure($"peak_mem_bf16_vs_fp32_{variant}", "bf16 base", "fp32 base", a, b, a / b, "MiB peak RSS", "report"));
        }
    }

    private static void Time(Options options, Report report, string name, ModelSpec spec)
    {
        using var fp32 = TrainStep.Create(spec, options.Shape, options.Execution);
        using var bf16 = TrainStep.Create(spec, options.Shape, options.Execution, ScalarType.BFloat16);
        var (mb, ma, ratio, _) = Measure.Interleave(options, () => bf16.Run().Total, () => fp32.Run().Total);
        Console.WriteLine(string.Create(Invariant.Culture, $"  {name}: {mb:F0} (bf16) vs {ma:F0} (fp32) ms/step, ratio {ratio:F3}"));
        report.Add(new Figure(name, $"{spec.Name}, bf16 base", "same, fp32 base", mb, ma, ratio, "ms/step", "< 1 means bf16 is faster"));
    }
}
