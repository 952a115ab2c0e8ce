using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Training;
using MoeDsl.Samples.Comparison;
using MoeDsl.Samples.Embedded;

namespace MoeDsl.Examples;

/// <summary>The main job: the declared methods fine-tuned on the embedded multi-task benchmark over several seeds, on the
/// project's own pre-trained tiny base (or a checkpoint given with --model), with held-out exact match per task.</summary>
internal static class Program
{
    /// <summary>The methods compared: this assembly's declarations (<c>Methods/</c>) as the generator lists them, the
    /// plain-LoRA baseline first.</summary>
    /// <remarks>The Graph router runs last: a MixLoRA run that follows a GMoE run in the same process takes about twice as
    /// long (README), and the order changes no result (every run seeds itself).</remarks>
    private static readonly DeclaredModel[] Methods =
        MoeDsl.Generated.DeclaredModels.All.OrderBy(m => m.Spec.IsMixture).ThenBy(m => m.Spec.Router is GraphRouterSettings)
              .ThenBy(m => m.Name, StringComparer.Ordinal).ToArray();

    /// <summary>The matched-budget baseline every mixture is paired with.</summary>
    private const string MatchedBaseline = "lora";

    /// <summary>The papers' own budget ratios: (mixture, its paper's LoRA baseline).</summary>
    private static readonly (string Method, string Baseline)[] PaperRatios = { ("mixlora-16", "lora-80") };

    /// <summary>Training and held-out examples per task of the embedded mix.</summary>
    private const int TrainPerTask = 1000, HeldOutPerTask = 600;

    private static int Main(string[] args)
    {
        try
        {
            return Run(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"main job: {e.Message}");
            return 2;
        }
        catch (ModelFormatException e)
        {
            Console.Error.WriteLine($"main job: {e.Message}");
            return 1;
        }
    }

    private static int Run(string[] args)
    {
        var o = Options.Parse(args);
        if (o.Help)
        {
            Console.WriteLine("usage: dotnet run -c Release --project examples/MoeDsl.Examples -- [--full (1500 steps, 5 seeds)] [--seeds N] [--first-seed N (default 1: seeds N..N+seeds-1, to add seeds to an earlier run)] [--report DIR1,DIR2 (no training: the tables, pairs and plots of earlier runs' results.json joined by method and seed, written to --out)] [--steps N] [--methods a,b] [--model DIR [--data F1,F2 --task T1,T2]] [--out DIR] [--threads N]");
            Console.WriteLine("methods: " + string.Join(", ", Methods.Select(m => m.Name)));
            return 0;
        }
        if (o.Report is not null) return Report(o.Report, Path.GetFullPath(o.Out));
        TorchSharp.torch.set_num_threads(o.Threads);
        var selected = o.Methods is null ? Methods : o.Methods.Select(n => Methods.FirstOrDefault(m => m.Name == n) ?? throw new ArgumentException($"unknown method '{n}'; methods: {string.Join(", ", Methods.Select(m => m.Name))}")).ToArray();
        string outDir = Path.GetFullPath(o.Out);
        Directory.CreateDirectory(outDir);

        if (o.Data is not null && o.Model is null) throw new ArgumentException("--data needs --model (a checkpoint folder with a tokenizer)");
        if (o.Tasks is not null && o.Data is null) throw new ArgumentException("--task needs --data");
        string baseDir;
        if (o.Model is not null)
        {
            baseDir = Path.GetFullPath(o.Model);
            LlamaConfig c = LlamaConfig.Load(baseDir);
            if (o.Data is null && c.VocabSize < EmbeddedVocabulary.Size)
                throw new ArgumentException($"--model {baseDir}: the embedded tasks use the {EmbeddedVocabulary.Size}-id character vocabulary; vocab_size {c.VocabSize} is smaller");
            Console.WriteLine($"base: {baseDir} ({c.NumHiddenLayers} layers, hidden {c.HiddenSize}); declarations re-shaped to it at run time");
        }
        else
        {
            baseDir = EmbeddedBase.Ensure(log: Console.WriteLine);
        }

        var run = new ComparisonOptions { Steps = o.Steps, Seed = 0 };
        ComparisonTasks tasks;
        if (o.Data is null)
        {
            var embedded = new EmbeddedComparisonTasks(TrainPerTask, HeldOutPerTask, tasks: SyntheticTasks.SharedFormat);
            Console.WriteLine($"embedded tasks: {string.Join(", ", embedded.Names)}; {embedded.TrainPerTask} train / {embedded.TestPerTask} held-out examples per task; ");
            tasks = embedded;
        }
        else
        {
            var files = FileComparisonTasks.Load(baseDir, o.Data, o.Tasks ?? Array.Empty<string>(), 512);
            Console.WriteLine($"tasks: {string.Join(", ", files.Names.Select(t => $"{t} ({files.TrainCounts[t]} train / {files.HeldOutCount(t)} held-out)"))}; ");
            tasks = files;
        }
        string[] taskNames = tasks.Names.ToArray();
        Console.WriteLine($"{o.Steps} steps x {run.BatchSize} sequences; seeds {string.Join(",", Enumerable.Range(o.FirstSeed, o.Seeds))}; torch threads {o.Threads}");
        var results = new List<ComparisonResult>();
        // A run whose training diverges (NonFiniteTrainingException) is recorded and the job goes on: the method's other
        // seeds are skipped and it is left out of the tables and pairs (a pair needs every seed of both sides), and
        // results.json is rewritten after every run, so nothing finished is lost.
        var diverged = new Dictionary<string, string>(StringComparer.Ordinal);
        string json = Path.Combine(outDir, "results.json");
        string divergedJson = Path.Combine(outDir, "diverged.json");
        foreach (DeclaredModel m in selected)
        {
            for (int seed = o.FirstSeed; seed < o.FirstSeed + o.Seeds; seed++)
            {
                Func<string, MoeCausalLM> create = d => m.Build(d, device: null, out _);
                string adapterDir = Path.Combine(outDir, "adapters", $"{m.Name}-seed{seed}");
                ComparisonResult r;
                try
                {
                    r = ComparisonRun.Run(m.Name, create, baseDir, tasks, run with { Seed = seed, AdapterDirectory = adapterDir });
                }
                catch (NonFiniteTrainingException e)
                {
                    diverged[m.Name] = $"seed {seed}: {e.Message}";
                    Console.WriteLine($"  {m.Name,-10} seed {seed}: DIVERGED: {e.Message} Its other seeds are skipped and it is left out of the tables (see {divergedJson}).");
                    File.WriteAllText(divergedJson, JsonSerializer.Serialize(diverged, ComparisonResultFiles.Json));
                    break;
                }
                results.Add(r);
                File.WriteAllText(json, JsonSerializer.Serialize(results, ComparisonResultFiles.Json));
                Console.WriteLine($"  {m.Name,-10} seed {seed}: loss {r.FirstLoss:F3} -> {r.FinalLoss:F3}, held-out loss {r.HeldOutLossBefore:F3} -> {r.HeldOutLossAfter:F3}, " +
                                  $"accuracy {string.Join(" ", r.Accuracy.Select(a => $"{a.Key} {a.Value:P0}"))} ({r.Seconds:F0}s)");
            }
        }

        results.RemoveAll(r => diverged.ContainsKey(r.Method));
        string[] names = selected.Select(m => m.Name).Where(n => !diverged.ContainsKey(n)).ToArray();
        foreach (var (name, what) in diverged) Console.WriteLine($"left out of the tables: {name} diverged ({what})");
        Summarise(outDir, results, names, taskNames, o.Data is null ? "held-out exact match" : "held-out label-token accuracy");
        Console.WriteLine($"adapters: {Path.Combine(outDir, "adapters")} (adapter_model.safetensors + adapter_config.json per method and seed)");
        return 0;
    }

    /// <summary>The tables, paired differences and plots of <paramref name="results"/>, and results.json / differences.json
    /// in <paramref name="outDir"/>: what a run prints at its end, and all <c>--report</c> does.</summary>
    private static void Summarise(string outDir, List<ComparisonResult> results, string[] names, string[] taskNames, string metric)
    {
        PrintSummary(results, names, taskNames, metric);
        List<PairedComparison> differences = Pairs(names)
            .Select(p => PairedComparison.Of(results, p.Method, p.Baseline, p.Kind, taskNames)).ToList();
        PrintDifferences(differences, taskNames);
        foreach (string png in ComparisonPlots.Write(outDir, results, names, taskNames,
                     name => Methods.First(m => m.Name == name).Spec.ExpertsPerLayer, differences))
            Console.WriteLine($"plot: {png}");
        string json = Path.Combine(outDir, "results.json");
        File.WriteAllText(json, JsonSerializer.Serialize(results, ComparisonResultFiles.Json));
        Console.WriteLine($"results: {json}");
        string differencesJson = Path.Combine(outDir, "differences.json");
        File.WriteAllText(differencesJson, JsonSerializer.Serialize(differences, ComparisonResultFiles.Json));
        Console.WriteLine($"paired differences: {differencesJson}");
    }

    /// <summary><c>--report</c>: joins earlier runs' results.json files by method and seed (a run found in two files must
    /// agree: same accuracies and final loss, as re-runs of one seed do) and summarises them without training — how seeds
    /// added with <c>--first-seed</c>, or methods run in separate processes, make one table.</summary>
    private static int Report(string[] directories, string outDir)
    {
        List<ComparisonResult> results = ComparisonResultFiles.Join(
            directories.Select(d => (d, (IReadOnlyList<ComparisonResult>)ComparisonResultFiles.Read(d))), Methods.Select(m => m.Name).ToArray());
        if (results.Count == 0) throw new ArgumentException("--report: the results.json files hold no runs");
        string[] taskNames = results[0].Accuracy.Keys.ToArray();
        string[] names = Methods.Select(m => m.Name).Where(n => results.Any(r => r.Method == n)).ToArray();
        Directory.CreateDirectory(outDir);
        Console.WriteLine($"report of {directories.Length} folder(s): {results.Count} runs, " +
                          string.Join("; ", names.Select(n => $"{n} seeds {string.Join(",", results.Where(r => r.Method == n).Select(r => r.Seed))}")));
        Summarise(outDir, results, names, taskNames, "held-out accuracy");
        return 0;
    }

    /// <summary>The comparisons run: every mixture against the matched-budget LoRA, and each paper ratio; a pair is left
    /// out when --methods did not select both of its methods.</summary>
    private static IEnumerable<(string Method, string Baseline, string Kind)> Pairs(string[] names)
    {
        // A paper ratio naming a method that is not declared would silently fall back to the matched budget.
        foreach (var (method, baseline) in PaperRatios)
            if (!Methods.Any(x => x.Name == method) || !Methods.Any(x => x.Name == baseline))
                throw new InvalidOperationException($"paper ratio {method} / {baseline}: no declared method of that name (declared: {string.Join(", ", Methods.Select(x => x.Name))})");
        var paper = PaperRatios.ToDictionary(p => p.Method, p => p.Baseline);
        foreach (string m in names)
        {
            DeclaredModel d = Methods.First(x => x.Name == m);
            if (!d.Spec.IsMixture) continue;
            if (paper.TryGetValue(m, out string? b))
            {
                if (names.Contains(b)) yield return (m, b, "paper ratio");
            }
            else if (names.Contains(MatchedBaseline))
            {
                yield return (m, MatchedBaseline, "matched budget");
            }
        }
    }

    private static void PrintDifferences(List<PairedComparison> differences, string[] tasks)
    {
        if (differences.Count == 0) return;
        Console.WriteLine();
        Console.WriteLine("paired differences (method - baseline, same seeds), points, mean [95% paired-t interval]; * = interval excludes 0");
        string header = $"{"method - baseline",-22} {"kind",-14} " + string.Join(" ", tasks.Select(t => $"{t,22}")) + $" {"mean",22}";
        Console.WriteLine(header);
        Console.WriteLine(new string('-', header.Length));
        foreach (PairedComparison d in differences)
            Console.WriteLine($"{d.Method + " - " + d.Baseline,-22} {d.Kind,-14} " + string.Join(" ", tasks.Select(t => $"{Format(d.PerTask[t]),22}")) + $" {Format(d.Mean),22}");
        Console.WriteLine($"(held-out items alone put +-{100 * PairedStatistics.ItemNoiseHalfWidth(HeldOutPerTask):F1} points on a per-task difference " +
                          $"and +-{100 * PairedStatistics.ItemNoiseHalfWidth(HeldOutPerTask * tasks.Length):F1} on the mean, at worst; the intervals above are over seeds)");
    }

    private static string Format(Interval i) =>
        double.IsNaN(i.Low) ? $"{Points(i.Mean)} [n/a]" : $"{Points(i.Mean)} [{Points(i.Low)}, {Points(i.High)}]{(i.Significant ? "*" : " ")}";

    /// <summary>A fraction as signed points with one decimal; a value that rounds to zero prints as +0.0.</summary>
    private static string Points(double fraction) => (Math.Round(100 * fraction, 1) + 0.0).ToString("+0.0;-0.0", CultureInfo.InvariantCulture);

    private static void PrintSummary(List<ComparisonResult> results, string[] methods, string[] tasks, string metric)
    {
        Console.WriteLine();
        Console.WriteLine($"{metric} (%), mean ± std over seeds; mean of the tasks with its 95% t-interval over seeds");
        string header = $"{"method",-10} {"params",9} " + string.Join(" ", tasks.Select(t => $"{t,13}")) + $" {"mean [95%]",20} {"final loss",10}";
        Console.WriteLine(header);
        Console.WriteLine(new string('-', header.Length));
        foreach (string m in methods)
        {
            var rs = results.Where(r => r.Method == m).ToList();
            string cells = string.Join(" ", tasks.Select(t => Cell(rs.Select(r => r.Accuracy[t]))));
            Interval mean = PairedStatistics.MeanInterval(rs.Select(r => r.MeanAccuracy).ToArray());
            string meanCell = double.IsNaN(mean.Low) ? $"{100 * mean.Mean,6:F1}" : $"{100 * mean.Mean,5:F1} [{100 * mean.Low:F1}, {100 * mean.High:F1}]";
            Console.WriteLine($"{m,-10} {rs[0].TrainableParameters,9:N0} {cells} {meanCell,20} {rs.Average(r => r.FinalLoss),10:F3}");
        }
    }

    private static string Cell(IEnumerable<double> values)
    {
        double[] v = values.ToArray();
        double mean = v.Average();
        double std = v.Length > 1 ? PairedStatistics.SampleStandardDeviation(v) : 0;
        return $"{mean * 100,6:F1} ± {std * 100,4:F1}";
    }

    /// <summary>Steps of the quick default: 7 methods x 3 seeds stay under 10 minutes on 2 idle cores.</summary>
    private const int QuickSteps = 200;

    private sealed record Options(bool Help, int Steps, int Seeds, string[]? Methods, string? Model, string Out, int Threads, string[]? Data, string[]? Tasks, int FirstSeed = 1, string[]? Report = null)
    {
        public static Options Parse(string[] args)
        {
            var o = new Options(false, QuickSteps, 3, null, null, "runs/main", 1, null, null);
            bool seedsGiven = false;
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int(string name, int min) => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min ? v : throw new ArgumentException($"{name} must be an integer >= {min}");
                seedsGiven |= args[i] == "--seeds";
                o = args[i] switch
                {
                    "-h" or "--help" => o with { Help = true },
                    "--quick" => o with { Steps = QuickSteps },
                    "--full" => o with { Steps = 1500, Seeds = seedsGiven ? o.Seeds : 5 },
                    "--steps" => o with { Steps = Int("--steps", 1) },
                    "--seeds" => o with { Seeds = Int("--seeds", 1) },
                    "--first-seed" => o with { FirstSeed = Int("--first-seed", 1) },
                    "--report" => o with { Report = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                    "--methods" => o with { Methods = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                    "--model" => o with { Model = Value() },
                    "--out" => o with { Out = Value() },
                    "--threads" => o with { Threads = Int("--threads", 1) },
                    "--data" => o with { Data = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                    "--task" => o with { Tasks = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                    _ => throw new ArgumentException($"unknown option '{args[i]}'; see --help"),
                };
            }
            return o;
        }
    }
}
