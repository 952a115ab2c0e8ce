using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using MoeDsl.Runtime.Experts;

namespace MoeDsl.Benchmarks;

/// <summary>The command line: shape, threads, repetitions, which figure group to run, the experts' execution, and the
/// hidden <c>--mem-child</c> variant a child process of <see cref="PeakMemoryMoeVsLora"/> is started with.</summary>
internal sealed class Options
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/MoeDsl.Benchmarks -- [--quick | --full] [--threads N] [--reps N] [--steps N]
          --quick      scaled-down LLaMA-like shape (default; a few minutes on 2 cores)
          --full       the issue's shape: hidden 1024, intermediate 2816, 16 heads, 4 layers, vocab 32000, 2,048 tokens
          --threads N  torch.set_num_threads (default: all cores)
          --reps N     timed repetitions per figure (default 5), after 3 warm-up repetitions
          --libtorch D load libtorch from D (a PyTorch install's torch/lib; needs a -p:TorchBackend=external build); also MOEDSL_LIBTORCH
          --only G     run one group: train, ffn, graph, mola, mem, flat, pack, bf16; or real (only when named: the real-shape
                       checkpoints, see bench/README.md)
          --real-dir D where --only real keeps its Qwen2.5-0.5B / Llama-3.2-1B shaped checkpoints (default: $TMPDIR/moedsl-real-shapes;
                       written on first use, about 7 GB)
          --steps N    steps of the live-tensor / RSS flatness check (default 200 quick, 1000 full)
          --execution E  the MixLoRA FFNs' expert execution in the model-level figures: auto (default), fused, grouped, dense
          --steps-of M run only method M's train step (lora or mixlora, the train figure's two models), --reps times after
                       the warm-up, printing each step's phases: for profilers (perf record) and the peer comparison
        """;

    public BenchShape Shape { get; private set; } = BenchShape.Quick;
    public bool IsFull { get; private set; }
    public int Threads { get; private set; } = Environment.ProcessorCount;
    public int Reps { get; private set; } = 5;
    public int Warmup { get; private set; } = 3;
    public int FlatSteps { get; private set; } = 200;
    public string? MemoryChild { get; private set; }
    public string? LibTorch { get; private set; }
    public string? Only { get; private set; }
    public string? StepsOf { get; private set; }
    public string? RealDirectory { get; private set; }
    public string? RealChild { get; private set; }
    public ExpertExecution Execution { get; private set; } = ExpertExecution.Auto;

    /// <summary>The <c>--execution</c> names, both ways (parsing, and the child processes' arguments).</summary>
    private static readonly (string Name, ExpertExecution Value)[] ExecutionNames =
    {
        ("auto", ExpertExecution.Auto), ("fused", ExpertExecution.Fused), ("grouped", ExpertExecution.Grouped), ("dense", ExpertExecution.DenseMasked),
    };
    public bool Help { get; private set; }

    public static Options Parse(string[] args)
    {
        var o = new Options();
        bool stepsSet = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            int Next(string name)
            {
                if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 1)
                    throw new ArgumentException($"{name} needs a positive integer");
                i++;
                return v;
            }
            switch (a)
            {
                case "--quick": o.Shape = BenchShape.Quick; o.IsFull = false; break;
                case "--full": o.Shape = BenchShape.Full; o.IsFull = true; break;
                case "--threads": o.Threads = Next(a); break;
                case "--reps": o.Reps = Next(a); break;
                case "--steps": o.FlatSteps = Next(a); stepsSet = true; break;
                case "--mem-child":
                    if (i + 1 >= args.Length) throw new ArgumentException("--mem-child needs a variant");
                    o.MemoryChild = args[++i];
                    break;
                case "--real-dir":
                    if (i + 1 >= args.Length) throw new ArgumentException("--real-dir needs a folder");
                    o.RealDirectory = args[++i];
                    break;
                case "--real-child":
                    if (i + 1 >= args.Length) throw new ArgumentException("--real-child needs DIR|METHOD|DTYPE");
                    o.RealChild = args[++i];
                    break;
                case "--only":
                    if (i + 1 >= args.Length) throw new ArgumentException("--only needs a figure group: train, ffn, graph, mola, mem, flat, pack, bf16, real");
                    o.Only = args[++i];
                    break;
                case "--steps-of":
                    if (i + 1 >= args.Length || args[i + 1] is not ("lora" or "mixlora")) throw new ArgumentException("--steps-of needs lora or mixlora");
                    o.StepsOf = args[++i];
                    break;
                case "--execution":
                    if (i + 1 >= args.Length) throw new ArgumentException("--execution needs one of auto, fused, grouped, dense");
                    string name = args[++i];
                    o.Execution = ExecutionNames.FirstOrDefault(n => n.Name == name) is { Name: not null } found ? found.Value
                        : throw new ArgumentException($"--execution '{name}' is not one of auto, fused, grouped, dense");
                    break;
                case "--libtorch":
                    if (i + 1 >= args.Length) throw new ArgumentException("--libtorch needs the directory that contains libtorch.so");
                    o.LibTorch = args[++i];
                    break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"unknown option '{a}'");
            }
        }
        if (o.IsFull && !stepsSet) o.FlatSteps = 1000;
        return o;
    }

    /// <summary>The arguments a child process needs to rebuild the same shape and thread count.</summary>
    public IEnumerable<string> ChildArguments()
    {
        var args = new List<string> { IsFull ? "--full" : "--quick", "--threads", Threads.ToString(CultureInfo.InvariantCulture),
            "--execution", ExecutionNames.First(n => n.Value == Execution).Name };
        if (LibTorch is not null) args.AddRange(new[] { "--libtorch", LibTorch });
        return args;
    }
}
