using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Benchmarks;

/// <summary><c>peak_mem_moe_vs_lora</c>: the peak resident memory of a fresh process during one train step, MixLoRA
/// (8 experts, top-2, r=16) over LoRA r=16. Each measurement is a child process started with <c>--mem-child</c>
/// (<see cref="Child"/>), so that no variant's peak includes what another left allocated.</summary>
internal static class PeakMemoryMoeVsLora
{
    /// <summary>Child processes per variant, started alternately.</summary>
    private const int Processes = 3;

    public static void Run(Options options, Report report)
    {
        var moe = new List<(long Before, long Peak)>();
        var lora = new List<(long Before, long Peak)>();
        for (int i = 0; i < Processes; i++)
        {
            if (i % 2 == 0) { moe.Add(Start(options, "mixlora")); lora.Add(Start(options, "lora16")); }
            else { lora.Add(Start(options, "lora16")); moe.Add(Start(options, "mixlora")); }
        }
        double peakMoe = Measure.Median(moe.Select(m => (double)m.Peak)), peakLora = Measure.Median(lora.Select(m => (double)m.Peak));
        double deltaMoe = Measure.Median(moe.Select(m => (double)(m.Peak - m.Before))), deltaLora = Measure.Median(lora.Select(m => (double)(m.Peak - m.Before)));
        const double MiB = 1024.0 * 1024.0;
        report.Add(new Figure("peak_mem_moe_vs_lora", "MixLoRA 8x top-2 r=16", "LoRA r=16", peakMoe / MiB, peakLora / MiB, peakMoe / peakLora, "MiB peak RSS", "<= 1.10"));
        report.Note(string.Create(Invariant.Culture, $"peak_mem_moe_vs_lora is the peak resident set (VmHWM) of a fresh process during its second train step, whole model + optimizer state + activations (median of {Processes} processes each); TorchSharp on CPU has no allocator statistics. The step's own growth over the RSS before it: MixLoRA {deltaMoe / MiB:F0} MiB vs LoRA {deltaLora / MiB:F0} MiB ({deltaMoe / deltaLora:F3}x)"));
    }

    /// <summary>One child process for <paramref name="variant"/>: the RSS before its measured step and the peak during it,
    /// read from its <c>MEM before peak</c> line.</summary>
    internal static (long Before, long Peak) Start(Options options, string variant)
    {
        var (exitCode, stdout, stderr) = ChildProcess.Run(options.ChildArguments().Concat(new[] { "--mem-child", variant }));
        string? line = stdout.Split('\n').FirstOrDefault(s => s.StartsWith("MEM ", StringComparison.Ordinal));
        if (exitCode != 0 || line is null)
            throw new InvalidOperationException($"memory child '{variant}' failed (exit {exitCode}): {stderr}{stdout}");
        string[] parts = line.Split(' ');
        return (long.Parse(parts[1], Invariant.Culture), long.Parse(parts[2], Invariant.Culture));
    }

    /// <summary>The child process's side (<c>--mem-child variant</c>): builds the model, runs a warm-up step, resets the
    /// kernel's peak-RSS mark, runs one more step and prints <c>MEM before peak</c>: the RSS before that step and the
    /// peak during it.</summary>
    public static int Child(Options options, string variant)
    {
        LlamaConfig c = options.Shape.Config;
        // A "-bf16" suffix: the same variant on a bf16 frozen base (Bf16VsFp32TrainStep).
        bool bf16 = variant.EndsWith(Bf16VsFp32TrainStep.Suffix, StringComparison.Ordinal);
        if (bf16) variant = variant[..^Bf16VsFp32TrainStep.Suffix.Length];
        ModelSpec spec = variant switch
        {
            "lora16" => Specs.Lora(c, 16),
            "mixlora" => Specs.MixLora(c),
            "lora8" => Specs.Lora(c, 8),
            "mola2468" => Specs.Mola2468(c),
            _ => throw new ArgumentException($"unknown memory variant '{variant}'"),
        };
        using var step = TrainStep.Create(spec, options.Shape, options.Execution, bf16 ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32);
        step.Run();
        ProcMemory.CollectGarbage();
        ProcMemory.ResetPeak();
        long before = ProcMemory.Rss();
        step.Run();
        long peak = ProcMemory.Peak();
        Console.WriteLine(string.Create(Invariant.Culture, $"MEM {before} {peak}"));
        return 0;
    }
}
