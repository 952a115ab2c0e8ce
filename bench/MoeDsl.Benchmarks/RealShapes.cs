using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Benchmarks;

/// <summary><c>--only real</c> (issue 12's benchmark): plain-LoRA r=16 and MixLoRA (8 experts, top-2, r=16) train-step
/// tokens/s and peak RSS on checkpoints with the real shapes of Qwen2.5-0.5B and Llama-3.2-1B (random weights, full
/// vocabularies, fp32 files in 4 shards written once by tools/MoeDsl.Checkpoints into <c>--real-dir</c>), with the frozen base loaded in
/// fp32 and in bf16, at 1 and 2 threads. Every cell is a fresh child process (<see cref="Child"/>): load
/// (<c>SpecModel.FromPretrained</c>), 1 warm-up step, <c>--reps</c> timed steps on one sequence of
/// <see cref="SequenceLength"/> tokens; its peak RSS (VmHWM) covers the load and the steps.</summary>
internal static class RealShapes
{
    /// <summary>Tokens per step: one sequence of this length (short, so that a cell takes seconds, not minutes, on 2 cores).</summary>
    public const int SequenceLength = 64;

    /// <summary>Shards the checkpoints are written in (as the Hub's: loading goes through the index, tensor by tensor; the
    /// writer holds one shard at a time).</summary>
    private const int Shards = 4;

    private static readonly (string Name, LlamaConfig Config)[] Models =
    {
        ("qwen2.5-0.5b", FamilyShapes.Qwen25HalfB),
        ("llama-3.2-1b", FamilyShapes.Llama32OneB),
    };

    private static ModelSpec SpecOf(string method, LlamaConfig c) => method switch
    {
        "lora" => Specs.Lora(c, 16),
        "mixlora" => Specs.MixLora(c),
        _ => throw new ArgumentException($"unknown method '{method}'"),
    };

    public static void Run(Options options, Report report)
    {
        string root = options.RealDirectory ?? Path.Combine(Path.GetTempPath(), "moedsl-real-shapes");
        const double MiB = 1024.0 * 1024.0;
        var rows = new List<string>
        {
            $"| model | method | base | threads | ms/step | tokens/s | peak RSS MiB | file MiB |",
            "|---|---|---|---:|---:|---:|---:|---:|",
        };
        foreach (var (name, config) in Models)
        {
            string dir = Path.Combine(root, name);
            bool complete = File.Exists(Path.Combine(dir, "config.json"))
                            && (File.Exists(Path.Combine(dir, "model.safetensors")) || File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
            if (!complete)
            {
                Console.WriteLine($"  writing the {name} checkpoint (fp32, random weights, {Shards} shards) to {dir}");
                CheckpointWriter.Write(config, dir, shards: Shards);
            }
            double fileMiB = Directory.GetFiles(dir, "*.safetensors").Sum(f => new FileInfo(f).Length) / MiB;
            foreach (string method in new[] { "lora", "mixlora" })
                foreach (string dtype in new[] { "fp32", "bf16" })
                    foreach (int threads in new[] { 1, 2 })
                    {
                        var args = new List<string> { "--threads", threads.ToString(CultureInfo.InvariantCulture), "--reps", options.Reps.ToString(CultureInfo.InvariantCulture),
                            "--real-child", string.Join('|', dir, method, dtype) };
                        if (options.LibTorch is not null) args.AddRange(new[] { "--libtorch", options.LibTorch });
                        var (exitCode, stdout, stderr) = ChildProcess.Run(args);
                        string? line = stdout.Split('\n').FirstOrDefault(s => s.StartsWith("REAL ", StringComparison.Ordinal));
                        if (exitCode != 0 || line is null) throw new InvalidOperationException($"real-shape child {name} {method} {dtype} {threads} failed (exit {exitCode}): {stderr}{stdout}");
                        string[] p = line.Split(' ');
                        double ms = double.Parse(p[1], CultureInfo.InvariantCulture);
                        double peak = long.Parse(p[2], CultureInfo.InvariantCulture) / MiB;
                        string row = string.Create(Invariant.Culture, $"| {name} | {method} | {dtype} | {threads} | {ms:F0} | {SequenceLength * 1000.0 / ms:F1} | {peak:F0} | {fileMiB:F0} |");
                        Console.WriteLine("  " + row);
                        rows.Add(row);
                    }
        }
        report.Note(string.Create(Invariant.Culture, $"real shapes: one sequence of {SequenceLength} tokens per step, median of {options.Reps} steps after 1 warm-up, a fresh process per row (peak RSS includes loading):\n") + string.Join('\n', rows));
    }

    /// <summary>The child (<c>--real-child DIR|METHOD|DTYPE</c>): loads, steps, prints <c>REAL median_ms peak_rss_bytes</c>.</summary>
    public static int Child(Options options, string argument)
    {
        string[] parts = argument.Split('|');
        if (parts.Length != 3) throw new ArgumentException($"--real-child '{argument}' is not DIR|METHOD|DTYPE");
        ScalarType dtype = FrozenBase.ParseDType(parts[2], "--real-child dtype");
        LlamaConfig config = LlamaConfig.LoadMatchingWeights(parts[0]);
        manual_seed(1);
        SpecModel model = SpecModel.FromPretrained(parts[0], SpecOf(parts[1], config), baseDType: dtype);
        using var step = new TrainStep(model, new BenchShape("real", config, 1, SequenceLength), 7, options.Execution);
        step.Run();
        double[] ms = Enumerable.Range(0, options.Reps).Select(_ => step.Run().Total).ToArray();
        Console.WriteLine(string.Create(Invariant.Culture, $"REAL {Measure.Median(ms):F1} {ProcMemory.Peak()}"));
        return 0;
    }
}
