using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Moe;
using MoeDsl.Runtime.Native;
using MoeDsl.Runtime.Routing;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Benchmarks;

/// <summary>Issue #5's benchmark: A/B figures measured interleaved in one process (warm-up, median of repetitions),
/// printed as a table and then as <c>RATIO name value</c> lines.</summary>
public static class Program
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

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
        if (options.MemoryChild is string variant) return MemoryChild(options, variant);
        return new Runner(options).Run();
    }

    /// <summary>A fresh process for one variant of <c>peak_mem_moe_vs_lora</c>: builds the model, runs a warm-up step,
    /// resets the kernel's peak-RSS mark (<c>/proc/self/clear_refs</c> = 5), runs one more step and prints the RSS
    /// before it and the peak during it.</summary>
    private static int MemoryChild(Options options, string variant)
    {
        LlamaConfig c = options.Shape.Config;
        ModelSpec spec = variant switch
        {
            "lora16" => Specs.Lora(c, 16),
            "mixlora" => Specs.MixLora(c),
            "lora8" => Specs.Lora(c, 8),
            "mola2468" => Specs.Mola2468(c),
            _ => throw new ArgumentException($"unknown memory variant '{variant}'"),
        };
        using var step = new TrainStep(Specs.Build(c, spec, 1), options.Shape, 7, options.Execution);
        step.Run();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ProcMemory.ResetPeak();
        long before = ProcMemory.Rss();
        step.Run();
        long peak = ProcMemory.Peak();
        Console.WriteLine(string.Create(Inv, $"MEM {before} {peak}"));
        return 0;
    }
}

internal sealed class Options
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/MoeDsl.Benchmarks -- [--quick | --full] [--threads N] [--reps N] [--steps N]
          --quick      scaled-down LLaMA-like shape (default; a few minutes on 2 cores)
          --full       the issue's shape: hidden 1024, intermediate 2816, 16 heads, 4 layers, vocab 32000, 2,048 tokens
          --threads N  torch.set_num_threads (default: all cores)
          --reps N     timed repetitions per figure (default 5), after 1 warm-up repetition
          --libtorch D load libtorch from D (a PyTorch install's torch/lib; needs a -p:TorchBackend=external build); also MOEDSL_LIBTORCH
          --only G     run one group: train, ffn, graph, mola, mem, flat
          --steps N    steps of the live-tensor / RSS flatness check (default 200 quick, 1000 full)
          --execution E  the MixLoRA FFNs' expert execution in the model-level figures: auto (default), fused, grouped, dense
        """;

    public BenchShape Shape { get; private set; } = BenchShape.Quick;
    public bool IsFull { get; private set; }
    public int Threads { get; private set; } = Environment.ProcessorCount;
    public int Reps { get; private set; } = 5;
    public int Warmup { get; private set; } = 1;
    public int FlatSteps { get; private set; } = 200;
    public string? MemoryChild { get; private set; }
    public string? LibTorch { get; private set; }
    public string? Only { get; private set; }
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
                case "--only":
                    if (i + 1 >= args.Length) throw new ArgumentException("--only needs a figure group: train, ffn, graph, mola, mem, flat");
                    o.Only = args[++i];
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

/// <summary>Linux process memory from /proc.</summary>
internal static class ProcMemory
{
    public static long Rss() => Field("VmRSS:");
    public static long Peak() => Field("VmHWM:");

    /// <summary>Resets VmHWM to the current RSS (Linux 4.0+).</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static long Field(string name)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(name, StringComparison.Ordinal))
                return long.Parse(line.AsSpan(name.Length).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {name}");
    }
}

/// <summary>One measured A/B pair.</summary>
internal sealed record Figure(string Name, string A, string B, double MedianA, double MedianB, double Ratio, string Unit, string Goal)
{
    public bool Measured => !double.IsNaN(Ratio);
}

internal sealed class Runner
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private readonly Options options;
    private readonly List<Figure> figures = new();
    private readonly List<string> notes = new();
    private readonly List<string> table6 = new();

    public Runner(Options options) => this.options = options;

    public int Run()
    {
        var total = Stopwatch.StartNew();
        BenchShape shape = options.Shape;
        Console.WriteLine("MoeDsl benchmark (issue #5)");
        Console.WriteLine(string.Create(Inv, $"date {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.OSVersion}, {Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()}, TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, device cpu, fp32"));
        Console.WriteLine($"shape {shape.Describe()}");
        Console.WriteLine(string.Create(Inv, $"method: each figure alternates A and B (order flipped every repetition), {options.Warmup} warm-up + {options.Reps} timed repetitions ({LayerRepsFactor}x both for the layer-level figures), medians; ratio = median of the per-repetition ratios"));
        Console.WriteLine();

        bool Want(string group) => options.Only is null || options.Only == group;
        if (Want("train")) TrainStepFigure("moe_vs_lora_train_step", Specs.MixLora(shape.Config), Specs.Lora(shape.Config, 16), "<= 1.15", table6: true);
        if (Want("ffn")) FfnFigures();
        if (Want("graph")) GraphFigure();
        if (Want("mola")) TrainStepFigure("mola2468_vs_lora_train_step", Specs.Mola2468(shape.Config), Specs.Lora(shape.Config, 8), "report", table6: false);
        if (Want("mem")) MemoryFigure();
        if (Want("flat")) FlatnessFigure();

        Console.WriteLine();
        PrintTable();
        Console.WriteLine();
        Console.WriteLine("MixLoRA Table 6 layout (per token, one full train step, this machine; the paper's LLaMA-2 7B on its GPU: MixLoRA 1.89x forward, 1.99x backward):");
        foreach (string line in table6) Console.WriteLine(line);
        Console.WriteLine();
        foreach (string note in notes) Console.WriteLine($"note: {note}");
        Console.WriteLine(string.Create(Inv, $"total time {total.Elapsed.TotalSeconds:F0} s"));
        Console.WriteLine();
        foreach (Figure f in figures)
            Console.WriteLine(f.Measured ? string.Create(Inv, $"RATIO {f.Name} {f.Ratio:F3}") : $"RATIO {f.Name} not-measured");
        return 0;
    }

    /// <summary>Layer-level figures take tens of milliseconds: they run <see cref="LayerRepsFactor"/> times the repetitions so that
    /// their medians stand against this shared machine's noise (the per-repetition ratios of one run spread 0.8-1.8 at 9).</summary>
    private const int LayerRepsFactor = 5;

    /// <summary>Runs A and B alternately (<paramref name="factor"/> times the repetitions); each call returns its own milliseconds.</summary>
    private (double A, double B, double Ratio, double[] RatiosPerRep) Interleave(Func<double> a, Func<double> b, int factor = 1)
    {
        int reps = options.Reps * factor;
        for (int i = 0; i < options.Warmup * factor; i++) { a(); b(); }
        var ta = new double[reps];
        var tb = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            if (i % 2 == 0) { ta[i] = a(); tb[i] = b(); }
            else { tb[i] = b(); ta[i] = a(); }
        }
        double[] ratios = ta.Zip(tb, (x, y) => x / y).ToArray();
        return (Median(ta), Median(tb), Median(ratios), ratios);
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] v = values.OrderBy(x => x).ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private void TrainStepFigure(string name, ModelSpec specA, ModelSpec specB, string goal, bool table6)
    {
        BenchShape shape = options.Shape;
        using var a = new TrainStep(Specs.Build(shape.Config, specA, 1), shape, 7, options.Execution);
        using var b = new TrainStep(Specs.Build(shape.Config, specB, 1), shape, 7, options.Execution);
        var stepsA = new List<StepTimes>();
        var stepsB = new List<StepTimes>();
        var (ma, mb, ratio, _) = Interleave(() => Record(a, stepsA), () => Record(b, stepsB));
        Console.WriteLine(string.Create(Inv, $"  {name}: {ma:F0} vs {mb:F0} ms/step, ratio {ratio:F3}"));
        figures.Add(new Figure(name, $"{specA.Name} ({a.TrainableParameters:N0} trainable)", $"{specB.Name} ({b.TrainableParameters:N0} trainable)", ma, mb, ratio, "ms/step", goal));
        // The warm-up steps are in the lists too: drop them.
        StepTimes[] ta = stepsA.Skip(options.Warmup).ToArray(), tb = stepsB.Skip(options.Warmup).ToArray();
        double fa = Median(ta.Select(s => s.Forward)), fb = Median(tb.Select(s => s.Forward));
        double ba = Median(ta.Select(s => s.Backward)), bb = Median(tb.Select(s => s.Backward));
        double oa = Median(ta.Select(s => s.Optimizer)), ob = Median(tb.Select(s => s.Optimizer));
        double perTok = 1000.0 / shape.Tokens;
        notes.Add(string.Create(Inv, $"{name}: forward {fa:F0} vs {fb:F0} ms ({fa / fb:F3}x), backward {ba:F0} vs {bb:F0} ms ({ba / bb:F3}x), AdamW+zero_grad {oa:F1} vs {ob:F1} ms"));
        if (table6)
        {
            this.table6.Add(string.Create(Inv, $"| {"method",-24} | {"forward us/token",16} | {"backward us/token",17} | {"fwd ratio",9} | {"bwd ratio",9} |"));
            this.table6.Add("|--------------------------|------------------|-------------------|-----------|-----------|");
            this.table6.Add(string.Create(Inv, $"| {specB.Name,-24} | {fb * perTok,16:F2} | {bb * perTok,17:F2} | {1.0,9:F3} | {1.0,9:F3} |"));
            this.table6.Add(string.Create(Inv, $"| {specA.Name,-24} | {fa * perTok,16:F2} | {ba * perTok,17:F2} | {fa / fb,9:F3} | {ba / bb,9:F3} |"));
        }
    }

    private static double Record(TrainStep step, List<StepTimes> into)
    {
        StepTimes t = step.Run();
        into.Add(t);
        return t.Total;
    }

    /// <summary>fused_vs_loop_ffn (and, for context, our MoE FFN against a plain-LoRA FFN of the same base).</summary>
    private void FfnFigures()
    {
        LlamaConfig c = options.Shape.Config;
        int h = c.HiddenSize, inter = c.IntermediateSize, experts = 8, topK = 2;
        var lora = new LoraSettings(16, 32, 0);   // dropout 0 so the loop and ours compute the same function (checked below)
        manual_seed(3);
        var recorder = new RoutingRecorder { Enabled = false };
        using var ours = new MoeFeedForward(h, inter, experts, lora, new TopKRouter(h, experts, topK), recorder, 0);
        using (no_grad())
            foreach (var (_, p) in ours.named_parameters())
                if (p.requires_grad) nn.init.normal_(p, 0, 0.02);    // non-zero B so every term counts
        ours.train();
        var loop = new LoopMixLoraFfn(ours, experts, lora.Scaling);
        LoraLinear plainGate = new(h, inter, lora, "gate_proj"), plainUp = new(h, inter, lora, "up_proj"), plainDown = new(inter, h, lora, "down_proj");
        using var plain = new LlamaMlp(plainGate, plainUp, plainDown);
        plain.train();
        using Tensor x = randn(options.Shape.Batch, options.Shape.SequenceLength, h).requires_grad_(true);
        using Tensor gradOut = randn(options.Shape.Batch, options.Shape.SequenceLength, h);

        // The loop baseline must compute our function: compare outputs and gradients once.
        double outDiff, gradDiff;
        using (var _ = NewDisposeScope())
        {
            Tensor yOurs = ours.forward(x);
            Tensor yLoop = loop.Forward(x);
            outDiff = (yOurs - yLoop).abs().max().item<float>();
            var gOurs = autograd.grad(new[] { yOurs }, new[] { x, ours.GateProj.Experts[0].A }, new[] { gradOut });
            var gLoop = autograd.grad(new[] { yLoop }, new[] { x, ours.GateProj.Experts[0].A }, new[] { gradOut });
            gradDiff = Math.Max((gOurs[0] - gLoop[0]).abs().max().item<float>(), (gOurs[1] - gLoop[1]).abs().max().item<float>());
        }
        notes.Add(string.Create(Inv, $"fused_vs_loop_ffn: loop baseline vs ours, max |diff| output {outDiff:E2}, gradients (x, an expert's gate A) {gradDiff:E2}"));
        if (outDiff > 1e-3 || gradDiff > 1e-3)
            throw new InvalidOperationException($"the loop baseline and the fused layer disagree (output {outDiff}, gradient {gradDiff}); the figure would compare different functions");

        double Time(Func<Tensor, Tensor> f)
        {
            using var _ = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            Tensor y = f(x);
            y.backward(new[] { gradOut });
            double ms = sw.Elapsed.TotalMilliseconds;
            ours.zero_grad();
            plain.zero_grad();
            x.grad?.zero_();
            return ms;
        }

        var (ml, mo, ratio, _) = Interleave(() => Time(loop.Forward), () => Time(ours.forward), LayerRepsFactor);
        string mode = MoeFeedForward.Resolve(ours.Execution, x.shape[0] * x.shape[1] * topK, experts, lora.Rank, inter, DeviceType.CPU).ToString();
        figures.Add(new Figure("fused_vs_loop_ffn", "MoE-PEFT-style loop FFN", $"ours (fused, Auto = {mode})", ml, mo, ratio, "ms fwd+bwd", ">= 1.3"));
        ours.Execution = ExpertExecution.DenseMasked;
        var (md, mg, ratio3, _) = Interleave(() => Time(ours.forward), () => { ours.Execution = ExpertExecution.Grouped; double ms = Time(ours.forward); ours.Execution = ExpertExecution.DenseMasked; return ms; }, LayerRepsFactor);
        figures.Add(new Figure("dense_vs_grouped_ffn", "ours, dense-masked (E*r GEMMs)", "ours, grouped (sorted segments)", md, mg, ratio3, "ms fwd+bwd", "context"));
        ours.Execution = ExpertExecution.Auto;
        var (mm, mp, ratio2, _) = Interleave(() => Time(ours.forward), () => Time(plain.forward), LayerRepsFactor);
        figures.Add(new Figure("moe_vs_lora_ffn", $"ours MixLoRA FFN 8x top-2 r=16 ({mode})", "plain LoRA FFN r=16 (PEFT-style)", mm, mp, ratio2, "ms fwd+bwd", "context"));

        // The plain-LoRA baseline above is PEFT-style autograd. The same recomputing function run as a plain LoRA FFN
        // (one expert, weight 1) says how much of moe_vs_lora_ffn is the MoE and how much is the fused execution.
        var single = new FusedExpertSettings(1, lora.Rank, lora.Scaling, lora.Dropout, Training: true);
        Tensor FusedLora(Tensor input)
        {
            long tokens = input.shape[0] * input.shape[1];
            Tensor y = FusedExpertFeedForward.Apply(input.reshape(tokens, h), plainGate.Weight, plainUp.Weight, plainDown.Weight,
                cat(new Tensor[] { plainGate.A, plainUp.A }, 0), plainGate.B.t(), plainUp.B.t(), plainDown.A, plainDown.B,
                ones(tokens, 1), zeros(tokens, 1, dtype: ScalarType.Int64), single);
            return y.view(input.shape);
        }
        var (mf, pf, ratio4, _) = Interleave(() => Time(FusedLora), () => Time(plain.forward), LayerRepsFactor);
        figures.Add(new Figure("fused_lora_vs_lora_ffn", "plain LoRA FFN r=16 run by the fused function", "plain LoRA FFN r=16 (PEFT-style)", mf, pf, ratio4, "ms fwd+bwd", "context"));
        var (mm2, mf2, ratio5, _) = Interleave(() => Time(ours.forward), () => Time(FusedLora), LayerRepsFactor);
        figures.Add(new Figure("moe_vs_fused_lora_ffn", $"ours MixLoRA FFN 8x top-2 r=16 ({mode})", "plain LoRA FFN r=16, fused function", mm2, mf2, ratio5, "ms fwd+bwd", "context"));
    }

    private void GraphFigure()
    {
        LlamaConfig c = options.Shape.Config;
        var recorder = new RoutingRecorder { Enabled = false };
        // Both layers as the generated code builds them (SpecModel.BuildLayer: LoRA r=16 on q/k/v/o, MixLoRA FFN 8 experts
        // top-2 r=16, dropout 0.05), same seed, differing only in the router.
        manual_seed(5);
        using LlamaDecoderLayer graph = SpecModel.BuildLayer(Specs.MixLora(c, RouterKind.Graph).ShapedTo(c), c, 0, recorder);
        manual_seed(5);
        using LlamaDecoderLayer topk = SpecModel.BuildLayer(Specs.MixLora(c).ShapedTo(c), c, 0, recorder);
        graph.train();
        topk.train();
        long l = options.Shape.SequenceLength;
        var (cos, sin) = new RotaryEmbedding(c.HeadDim, c.RopeTheta).Tables(0, l, CPU);
        var ctx = new AttentionContext(cos, sin, null);
        using Tensor x = randn(options.Shape.Batch, l, c.HiddenSize).requires_grad_(true);
        double Time(LlamaDecoderLayer layer)
        {
            using var _ = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            Tensor y = layer.forward(x, ctx);
            y.sum().backward();
            double ms = sw.Elapsed.TotalMilliseconds;
            layer.zero_grad();
            x.grad?.zero_();
            return ms;
        }
        var (mg, mt, ratio, _) = Interleave(() => Time(graph), () => Time(topk), LayerRepsFactor);
        figures.Add(new Figure("graph_vs_topk_layer", "MixLoRA layer, Graph router", "MixLoRA layer, TopK router", mg, mt, ratio, "ms fwd+bwd", "<= 1.10"));
        cos.Dispose();
        sin.Dispose();
    }

    /// <summary>peak_mem_moe_vs_lora: one fresh child process per variant and repetition (alternating).</summary>
    private void MemoryFigure()
    {
        int reps = 3;
        var moe = new List<(long Before, long Peak)>();
        var lora = new List<(long Before, long Peak)>();
        for (int i = 0; i < reps; i++)
        {
            if (i % 2 == 0) { moe.Add(Child("mixlora")); lora.Add(Child("lora16")); }
            else { lora.Add(Child("lora16")); moe.Add(Child("mixlora")); }
        }
        double peakMoe = Median(moe.Select(m => (double)m.Peak)), peakLora = Median(lora.Select(m => (double)m.Peak));
        double deltaMoe = Median(moe.Select(m => (double)(m.Peak - m.Before))), deltaLora = Median(lora.Select(m => (double)(m.Peak - m.Before)));
        const double MiB = 1024.0 * 1024.0;
        figures.Add(new Figure("peak_mem_moe_vs_lora", "MixLoRA 8x top-2 r=16", "LoRA r=16", peakMoe / MiB, peakLora / MiB, peakMoe / peakLora, "MiB peak RSS", "<= 1.15"));
        notes.Add(string.Create(Inv, $"peak_mem_moe_vs_lora is the peak resident set (VmHWM) of a fresh process during its second train step, whole model + optimizer state + activations (median of {reps} processes each); TorchSharp on CPU has no allocator statistics. The step's own growth over the RSS before it: MixLoRA {deltaMoe / MiB:F0} MiB vs LoRA {deltaLora / MiB:F0} MiB ({deltaMoe / deltaLora:F3}x)"));
    }

    private (long Before, long Peak) Child(string variant)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (string arg in options.ChildArguments().Concat(new[] { "--mem-child", variant })) psi.ArgumentList.Add(arg);
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {self}");
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        string? line = stdout.Split('\n').FirstOrDefault(s => s.StartsWith("MEM ", StringComparison.Ordinal));
        if (p.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"memory child '{variant}' failed (exit {p.ExitCode}): {stderr}{stdout}");
        string[] parts = line.Split(' ');
        return (long.Parse(parts[1], Inv), long.Parse(parts[2], Inv));
    }

    /// <summary>Live tensors (TorchSharp's DisposeScopeManager statistics) and RSS after warm-up and after N steps of a
    /// small MixLoRA model: one dispose scope per step must leave nothing behind.</summary>
    private void FlatnessFigure()
    {
        var c = new LlamaConfig(128, 352, 4, 4, 4, 1000, MaxPositionEmbeddings: 512);
        var shape = new BenchShape("flatness", c, 2, 64);
        using var step = new TrainStep(Specs.Build(c, Specs.MixLora(c), 1), shape, 7, options.Execution);
        int warm = 20;
        for (int i = 0; i < warm; i++) step.Run();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long liveWarm = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssWarm = ProcMemory.Rss();
        for (int i = 0; i < options.FlatSteps; i++) step.Run();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long liveEnd = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssEnd = ProcMemory.Rss();
        figures.Add(new Figure("live_tensors_end_vs_warm", $"live tensors after {options.FlatSteps} more steps", $"live tensors after {warm} warm-up steps", liveEnd, liveWarm, (double)liveEnd / liveWarm, "tensors", "1.000"));
        figures.Add(new Figure("rss_end_vs_warm", $"RSS after {options.FlatSteps} more steps", $"RSS after {warm} warm-up steps", rssEnd / 1048576.0, rssWarm / 1048576.0, (double)rssEnd / rssWarm, "MiB", "~1.0"));
        notes.Add(string.Create(Inv, $"flatness: MixLoRA 8x top-2 r=16 on a 128/352/4-layer/1000-vocab base, 2x64 tokens; live tensors = DisposeScopeManager.Statistics.ThreadTotalLiveCount (this thread, parameters and optimizer state included): {liveWarm} -> {liveEnd}; RSS {rssWarm / 1048576.0:F1} -> {rssEnd / 1048576.0:F1} MiB"));
    }

    private void PrintTable()
    {
        Console.WriteLine("Figures (A over B; medians):");
        Console.WriteLine(string.Create(Inv, $"| {"figure",-28} | {"A",-44} | {"B",-40} | {"A",10} | {"B",10} | {"unit",-12} | {"A/B",7} | {"goal",8} |"));
        Console.WriteLine($"|{new string('-', 30)}|{new string('-', 46)}|{new string('-', 42)}|{new string('-', 12)}|{new string('-', 12)}|{new string('-', 14)}|{new string('-', 9)}|{new string('-', 10)}|");
        foreach (Figure f in figures)
        {
            string va = f.Measured ? f.MedianA.ToString("F1", Inv) : "-", vb = f.Measured ? f.MedianB.ToString("F1", Inv) : "-";
            string r = f.Measured ? f.Ratio.ToString("F3", Inv) : "n/a";
            Console.WriteLine(string.Create(Inv, $"| {f.Name,-28} | {f.A,-44} | {f.B,-40} | {va,10} | {vb,10} | {f.Unit,-12} | {r,7} | {f.Goal,8} |"));
        }
    }
}
