using System;
using System.Diagnostics;
using System.Linq;
using MoeDsl.Runtime.Native;
using TorchSharp;

namespace MoeDsl.Benchmarks;

/// <summary>The benchmark's entry point: runs the A/B figure groups (all, or the one <c>--only</c> names) in one process
/// and prints what they measured; with <c>--mem-child</c> it is instead one child process of
/// <see cref="PeakMemoryMoeVsLora"/>.</summary>
public static class Program
{
    /// <summary>The figure groups in run order, each under its <c>--only</c> name.</summary>
    private static readonly (string Group, Action<Options, Report> Run)[] Groups =
    {
        ("train", MoeVsLoraTrainStep.Run),
        ("ffn", FfnFigures.Run),
        ("graph", GraphVsTopkLayer.Run),
        ("mola", MolaVsLoraTrainStep.Run),
        ("mem", PeakMemoryMoeVsLora.Run),
        ("flat", Flatness.Run),
        ("pack", PackedVsUnpacked.Run),
        ("bf16", Bf16VsFp32TrainStep.Run),
        ("real", RealShapes.Run),
    };

    /// <summary>Groups that run only when <c>--only</c> names them (they write multi-GB checkpoints).</summary>
    private static readonly string[] OnlyWhenNamed = { "real" };

    public static int Main(string[] args)
    {
        Options options;
        try { options = Options.Parse(args); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }
        if (options.Help) { Console.WriteLine(Options.Usage); return 0; }
        // Before anything touches TorchSharp: an existing PyTorch's libtorch when asked for (-p:TorchBackend=external builds).
        try
        {
            if (options.LibTorch is string dir) LibTorchLoader.Load(dir, "--libtorch");
            else LibTorchLoader.LoadFromEnvironment();
        }
        catch (LibTorchLoadException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        torch.set_num_threads(options.Threads);
        if (options.MemoryChild is string variant) return PeakMemoryMoeVsLora.Child(options, variant);
        if (options.RealChild is string cell) return RealShapes.Child(options, cell);

        if (options.Only is string only && !Groups.Any(g => g.Group == only))
        {
            Console.Error.WriteLine($"error: --only {only} is not a figure group; groups: {string.Join(", ", Groups.Select(g => g.Group))}");
            return 2;
        }
        var total = Stopwatch.StartNew();
        PrintHeader(options);
        if (options.StepsOf is string method) return StepsOf.Run(options, method);
        var report = new Report();
        foreach (var (group, run) in Groups)
            if (options.Only == group || (options.Only is null && !OnlyWhenNamed.Contains(group))) run(options, report);
        report.Print(total.Elapsed);
        return 0;
    }

    /// <summary>The run's conditions (machine, library versions, shape, method), so that a pasted result can be read on its own.</summary>
    private static void PrintHeader(Options options)
    {
        Console.WriteLine("MoeDsl benchmark (issue #5)");
        Console.WriteLine(string.Create(Invariant.Culture, $"date {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.OSVersion}, {Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()}, TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, device cpu, fp32"));
        Console.WriteLine($"shape {options.Shape.Describe()}");
        Console.WriteLine(string.Create(Invariant.Culture, $"method: each figure alternates A and B (order flipped every repetition), {options.Warmup} warm-up + {options.Reps} timed repetitions ({Measure.LayerRepsFactor}x both for the layer-level figures), medians; ratio = median of the per-repetition ratios"));
        Console.WriteLine();
    }
}
