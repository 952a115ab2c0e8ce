using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Kernels;
using MoeDsl.Runtime.Declarations;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Native;
using MoeDsl.Runtime.Training;
using static TorchSharp.torch;

namespace MoeDsl.Cli;

/// <summary>The <c>moedsl</c> command line for the declarations of any assembly: a user project gets
/// <c>train</c>, <c>eval</c>, <c>generate</c> and <c>inspect</c> for its own <c>[MoeModel]</c> classes with
/// <c>return MoeDslApp.Run(args, MoeDsl.Generated.DeclaredModels.All);</c> (the registry the generator writes into every
/// assembly with declarations). The <c>moedsl</c> tool is this with its own declarations (the papers' methods in
/// <c>MoeDsl.Cli.Methods</c>).</summary>
public static class MoeDslApp
{
    /// <summary>Exit code of a bad input file or checkpoint.</summary>
    public const int ExitBadInput = 1;
    /// <summary>Exit code of bad arguments, including an output folder held by another run and a resume whose settings
    /// differ from the checkpoint's.</summary>
    public const int ExitUsage = 2;
    /// <summary>Exit code of a run stopped by too many non-finite steps.</summary>
    public const int ExitNonFinite = 3;
    /// <summary>Exit code of any other failure: an internal or native (libtorch) error, out of memory; the one line names
    /// the exception type. A bug to report.</summary>
    public const int ExitInternal = 4;
    /// <summary>Exit code of a run interrupted by Ctrl-C (after its checkpoint was saved).</summary>
    public const int ExitInterrupted = 130;

    /// <summary>The exit codes, as --help and the README list them.</summary>
    public const string ExitCodes = "exit codes: 0 success, 1 bad input file or checkpoint, 2 bad arguments (also: --out held by another run, " +
                                    "--resume with changed settings), 3 too many non-finite steps, 4 internal or native error, 130 interrupted (checkpoint saved)";

    /// <summary>Test hook (environment variable): when set, every verb first runs a libtorch operation that fails
    /// natively, so tests can check that such an error becomes one line and <see cref="ExitInternal"/>.</summary>
    public const string NativeErrorVariable = "MOEDSL_TEST_NATIVE_ERROR";

    private static int unhandledHooked;

    /// <summary>Runs the command line over <paramref name="models"/>: 0 on success, 1 on a bad
    /// input file, 2 on bad arguments, 3 when training stopped on non-finite steps, 4 on an internal or native error,
    /// 130 when interrupted (checkpoint saved). Every failure is one line on stderr, never a stack trace.</summary>
    public static int Run(string[] args, IReadOnlyList<DeclaredModel> models)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(models);
        // An exception on another thread would end the process with a stack trace and SIGABRT: report it as one line.
        if (Interlocked.Exchange(ref unhandledHooked, 1) == 0)
            AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            {
                Internal(e.ExceptionObject as Exception);
                Environment.Exit(ExitInternal);
            };
        try
        {
            var duplicate = models.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
                throw new UsageException($"two declarations map to --method {duplicate.Key}: {string.Join(", ", duplicate.Select(m => m.Type.FullName))}; rename one");
            var methods = models.OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
            System.CommandLine.RootCommand root = CommandLineArguments.Build(methods.Select(m => m.Name).ToList(), a => Dispatch(a, methods));
            System.CommandLine.ParseResult parsed = root.Parse(args);
            if (CommandLineArguments.ErrorOf(parsed, args) is string error) throw new UsageException(error);
            // Exceptions reach the catch clauses below (one line, the documented exit code); Ctrl-C is train's to handle.
            return parsed.Invoke(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (UsageException e) { return Fail(e.Message, ExitUsage); }
        catch (FolderLockedException e) { return Fail(e.Message, ExitUsage); }
        catch (ResumeSettingsChangedException e)
        {
            return Fail($"--resume: {e.Checkpoint} was written with other training settings: {string.Join(", ", e.Changes)}; " +
                        "pass the checkpoint's values to continue the same run, or add --resume-with-changes to continue with the new ones deliberately (recorded in metrics.jsonl)", ExitUsage);
        }
        catch (LibTorchLoadException e) { return Fail(e.Message, ExitUsage); }
        catch (ModelFormatException e) { return Fail(e.Message, ExitBadInput); }
        catch (NonFiniteTrainingException e) { return Fail(e.Message, ExitNonFinite); }
        catch (ArgumentException e) { return Fail(e.Message.Split(" (Parameter", 2)[0], ExitUsage); }
        catch (InvalidOperationException e) { return Fail(e.Message, ExitBadInput); }
        catch (IOException e) { return Fail(e.Message, ExitBadInput); }
        catch (UnauthorizedAccessException e) { return Fail(e.Message, ExitBadInput); }
#pragma warning disable CA1031 // the last resort of a command line: whatever escaped (a native libtorch error included) is one line and exit code 4
        catch (Exception e) { return Internal(e); }
#pragma warning restore CA1031
    }

    private static int Dispatch(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        if (Environment.GetEnvironmentVariable(NativeErrorVariable) is { Length: > 0 }) FailNatively();
        if (a.String("libtorch") is string lib) LibTorchLoader.Load(lib, "--libtorch");
        if (a.Has("threads")) set_num_threads(a.Int("threads", 1, 1024));
        return a.Verb switch
        {
            "train" => Train(a, methods),
            "eval" => Eval(a, methods),
            "generate" => Generate(a, methods),
            "inspect" => Inspect(a, methods),
            "merge" => Merge(a, methods),
            "methods" => ListMethods(methods),
            _ => throw new UsageException($"unknown command '{a.Verb}'"),
        };
    }

    private static int Internal(Exception? e)
    {
        Exception inner = e ?? new InvalidOperationException("an unknown failure");
        if (inner is TypeInitializationException or System.Reflection.TargetInvocationException or AggregateException) inner = inner.GetBaseException();
        // libtorch messages carry the C++ frames after the first line; the first line is the error itself.
        string first = inner.Message.Split('\n', 2)[0].Trim();
        return Fail($"internal error ({inner.GetType().Name}): {first}; please report it with the command line", ExitInternal);
    }

    // A real native failure: multinomial over a NaN weight raises libtorch's own error (ExternalException).
    private static void FailNatively()
    {
        using Tensor weights = tensor(new[] { double.NaN, 1.0 });
        using Tensor drawn = multinomial(weights, 1);
    }

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine("moedsl: " + message.ReplaceLineEndings(" "));
        return code;
    }

    private static void Log(string line) => Console.Error.WriteLine(line);

    private static Device PickDevice(CommandLineArguments a)
    {
        string request = a.Choice("device");
        try { return DeviceSelection.Pick(request); }
        catch (InvalidOperationException e) { throw new UsageException(e.Message); }
    }

    /// <summary><c>--base-dtype</c>: null for auto (bf16 on CUDA, fp32 on the CPU), else the dtype asked for.</summary>
    private static ScalarType? BaseDType(CommandLineArguments a)
        => a.Choice("base-dtype") is "auto" ? null : FrozenBase.ParseDType(a.Choice("base-dtype"), "--base-dtype");

    private static (MoeCausalLM Model, string BaseDir, ITokenizer? Tokenizer) LoadModel(CommandLineArguments a, DeclaredModel method, Device device)
    {
        string modelArg = a.RequiredString("model");
        string dir = Inputs.ModelDirectory(modelArg, Log);
        ITokenizer? tokenizer = Inputs.Tokenizer(modelArg, dir);
        ScalarType? baseDType = BaseDType(a);
        MoeCausalLM model = Build(method, dir, baseDType ?? DeviceSelection.BaseDtype(device), out bool reshaped);
        if (reshaped) Log($"{method.Name}: re-shaped to {dir} ({model.Config.NumHiddenLayers} layers, hidden {model.Config.HiddenSize})");
        DeviceSelection.Place(model, device, baseDType);
        return (model, dir, tokenizer);
    }

    /// <summary>The declaration a verb works with: <c>--method</c> from the registry, or null when none was given. The one
    /// place a declaration is chosen, so a declaration given as JSON (<c>--spec FILE</c>, read by the runtime's
    /// <c>DeclarationSpec.Load</c> with the generator's rules) is added here.</summary>
    /// <summary>The declaration a verb uses: <c>--method</c> (a generated class) or <c>--spec</c> (a JSON declaration, checked
    /// by the generator's own rules: DeclarationSpec); never both.</summary>
    private static DeclaredModel? MethodOf(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        string? name = a.String("method");
        string? spec = a.String("spec");
        if (name is not null && spec is not null)
            throw new UsageException("--method and --spec both name a declaration; give one of them");
        if (spec is null) return name is null ? null : FindMethod(methods, name);
        if (!File.Exists(spec)) throw new UsageException($"--spec '{spec}' is not a file; give a JSON declaration (docs/declaration-specs.md)");
        try { return DeclaredModel.FromSpec(Path.GetFileNameWithoutExtension(spec), DeclarationSpec.Load(spec)); }
        catch (DeclarationSpecException e) { throw new UsageException(e.Message); }
    }

    private static DeclaredModel FindMethod(IReadOnlyList<DeclaredModel> methods, string name)
    {
        if (methods.Count == 0) throw new UsageException("no [MoeModel] declarations were given to the command line");
        return DeclaredModel.Find(methods, name)
               ?? throw new UsageException($"unknown --method '{name}'; methods: {string.Join(", ", methods.Select(m => m.Name))}");
    }

    /// <summary>The declaration on a checkpoint folder, re-shaped to it when its shape differs (see <see cref="DeclaredModel.Build(string, Device?, ScalarType?, out bool)"/>).</summary>
    private static MoeCausalLM Build(DeclaredModel method, string directory, ScalarType baseDType, out bool reshaped)
    {
        try { return method.Build(directory, device: null, baseDType, out reshaped); }
        catch (ArgumentException e) { throw new UsageException($"--method {method.Name} cannot be shaped to {directory}: {e.Message}"); }
    }

    private static int ListMethods(IReadOnlyList<DeclaredModel> methods)
    {
        foreach (DeclaredModel m in methods) Console.WriteLine($"{m.Name,-12} {m.Type.FullName}");
        return 0;
    }

    // ---------------------------------------------------------------- merge

    private static int Merge(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        DeclaredModel method = MethodOf(a, methods) ?? throw new UsageException($"'{a.Verb}' needs --method or --spec");
        if (method.Spec.IsMixture) throw new UsageException($"--method {method.Name} is a mixture of experts; only plain LoRA (e.g. --method lora) can be merged into the base");
        string adapter = a.RequiredString("adapter");
        if (!Directory.Exists(adapter)) throw new UsageException($"--adapter '{adapter}' is not a folder");
        string output = a.RequiredString("out");
        var (model, baseDir, _) = LoadModel(a, method, CPU);
        using (model)
        {
            AdapterStore.Load(model, adapter);
            LoraMerge.SaveMerged(model, output);
        }
        IReadOnlyList<string> carried = CopyTokenizerFiles(baseDir, output);
        Console.WriteLine($"merged {method.Name} adapter {adapter} into the base: {Path.GetFullPath(output)} (config.json + model.safetensors" +
                          string.Concat(carried.Select(f => " + " + f)) + ")");
        return 0;
    }

    /// <summary>The files beside the weights that a merged folder needs to be used like its base: the tokenizer
    /// (Hugging Face's, SentencePiece's or the character one) and the generation defaults.</summary>
    public static readonly IReadOnlyList<string> TokenizerFiles = new[]
    {
        HuggingFaceTokenizer.FileName, "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "added_tokens.json",
        CharTokenizer.FileName, "generation_config.json",
    };

    /// <summary>Copies the <see cref="TokenizerFiles"/> present in <paramref name="from"/> into <paramref name="to"/>; returns their names.</summary>
    internal static IReadOnlyList<string> CopyTokenizerFiles(string from, string to)
    {
        var copied = new List<string>();
        foreach (string name in TokenizerFiles)
        {
            string source = Path.Combine(from, name);
            if (!File.Exists(source)) continue;
            File.Copy(source, Path.Combine(to, name), overwrite: true);
            copied.Add(name);
        }
        return copied;
    }

    // ---------------------------------------------------------------- inspect

    private static int Inspect(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        DeclaredModel method = MethodOf(a, methods) ?? throw new UsageException($"'{a.Verb}' needs --method or --spec");
        ModelSpec spec = method.Spec;
        string baseName = "declared shape";
        if (a.String("model") is string modelArg)
        {
            string dir = modelArg == Inputs.Embedded ? Inputs.ModelDirectory(modelArg, Log) : modelArg;
            if (!Directory.Exists(dir)) throw new UsageException($"--model '{dir}' is not a folder; pass a Hugging Face checkpoint folder or 'embedded'");
            spec = Inspection.ShapeOf(method, LlamaConfig.Load(dir));
            baseName = dir;
        }
        IReadOnlyList<LayerRow> rows = Inspection.Rows(spec);
        Console.WriteLine(Inspection.Describe(method, spec, baseName));
        Console.WriteLine($"{"layer",5} {"experts",7} {"top-k",5} {"rank",4} {"router",-7} {"trainable",14}");
        foreach (LayerRow r in rows)
            Console.WriteLine($"{r.Layer,5} {r.Experts,7} {r.TopK,5} {r.Rank,4} {r.Router,-7} {r.Trainable.ToString("N0", CultureInfo.InvariantCulture),14}");
        long total = rows.Sum(r => r.Trainable);
        Console.WriteLine($"total trainable parameters: {total.ToString("N0", CultureInfo.InvariantCulture)} ({total / 1e6:F2} M); experts in total: {rows.Sum(r => r.Experts)}");
        return 0;
    }

    // ---------------------------------------------------------------- train

    private static int Train(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        DeclaredModel method = MethodOf(a, methods) ?? throw new UsageException($"'{a.Verb}' needs --method or --spec");
        string outDir = Path.GetFullPath(a.RequiredString("out"));
        string data = a.RequiredString("data");
        string? tasks = a.String("task");
        bool resume = a.Has("resume");
        bool allowChanges = a.Has("resume-with-changes");
        if (allowChanges && !resume) throw new UsageException("--resume-with-changes needs --resume (it allows a resumed run to change its training settings)");
        if (a.Has("mask-prompt") && a.Has("no-mask-prompt")) throw new UsageException("--mask-prompt and --no-mask-prompt contradict each other; give one");
        var schedule = a.Choice("schedule") switch
        {
            "constant" => ScheduleKind.Constant,
            "linear" => ScheduleKind.Linear,
            _ => ScheduleKind.Cosine,
        };
        int steps = a.Int("steps", 1, 100_000_000);
        var trainerOptions = new TrainerOptions
        {
            Steps = steps,
            LearningRate = a.Double("lr", double.Epsilon, 1e30),
            Schedule = schedule,
            WarmupSteps = a.Int("warmup", 0, steps),
            WeightDecay = a.Double("weight-decay", 0, 10),
            RouterWeightDecay = a.Double("router-weight-decay", 0, 10),
            GradientAccumulation = a.Int("grad-accum", 1, 1 << 16),
            MaxGradNorm = a.Double("max-grad-norm", 0, 1e9),
            Seed = a.Int("seed", 0),
            MaxConsecutiveNonFinite = a.Int("max-non-finite", 1, 1_000_000),
        };
        int batchSize = a.Int("batch-size", 1, 1 << 16);
        var sequenceOptions = new SequenceOptions
        {
            MaxTokens = a.Int("max-length", 3, 1 << 20),
            MaskPrompt = !a.Has("no-mask-prompt"),
            SkipBadLines = a.Has("skip-bad-lines"),
        };
        int saveEvery = a.Int("save-every", 0, int.MaxValue);
        int evalEvery = a.Int("eval-every", 0, int.MaxValue);
        string? evalData = a.String("eval-data");
        string? evalTasks = a.String("eval-task");
        if (evalEvery > 0 && evalData is null) throw new UsageException("--eval-every needs --eval-data (held-out data to evaluate)");
        if (evalTasks is not null && evalData is null) throw new UsageException("--eval-task needs --eval-data");
        bool plots = !a.Has("no-plots");
        // The folder is held from here (when it exists already; otherwise from just before the first write) to the end,
        // so a second run into it is refused with the holder's pid before it reads or writes anything there.
        using var held = new OutputFolderHold(outDir);
        if (resume && TrainingCheckpoint.Latest(outDir) is null)
            throw new UsageException($"--resume: {TrainingCheckpoint.Root(outDir)} holds no complete checkpoint; start without --resume, or pass the --out of the run to continue");
        if (!resume && TrainingCheckpoint.Latest(outDir) is string existing)
            throw new UsageException($"--out {outDir} already holds a checkpoint ({Path.GetFileName(existing)}); add --resume to continue that run, or choose another --out");
        bool pack = a.Has("pack");
        if (resume && TrainingCheckpoint.Latest(outDir) is string last && TrainingCheckpoint.ReadState(last).RunKey.EndsWith(TrainingRun.PackedKeySuffix, StringComparison.Ordinal) != pack)
            throw new UsageException(pack
                ? $"--pack: the run in --out {outDir} was trained without packing; resume it without --pack, or start a packed run in another --out"
                : $"the run in --out {outDir} was trained with --pack; resume it with --pack, or start an unpacked run in another --out");
        // Checked again by TrainingRun; here so that the refusal comes before the model and data are loaded.
        if (resume && !allowChanges && TrainingCheckpoint.Latest(outDir) is string latest && TrainingCheckpoint.ReadState(latest).Settings is { } recorded
            && TrainingSettings.Compare(recorded, TrainingSettings.Of(trainerOptions)) is { Count: > 0 } changed)
            throw new ResumeSettingsChangedException(latest, changed);
        Device device = PickDevice(a);

        var read = new JsonlReadOptions { SkipBadLines = sequenceOptions.SkipBadLines };
        IReadOnlyList<DataFile> files = Inputs.Files(data, tasks, heldOut: false, read);
        IReadOnlyList<DataFile>? evalFiles = evalData is null ? null : Inputs.Files(evalData, evalTasks ?? tasks, heldOut: true, read, "--eval-data");

        // --seed fixes the adapter's initialisation too (LoRA A, routers, GMoE edges), not only dropout and batch order:
        // two runs with the same arguments train the same model.
        TorchSharp.torch.random.manual_seed(trainerOptions.Seed);
        var (model, baseDir, tokenizerOrNull) = LoadModel(a, method, device);
        using var _ = model;
        // h-chat: pre-tokenized data (--task tokens) trains a model folder without a tokenizer (stories260K).
        ITokenizer tokenizer = tokenizerOrNull is null && TokenIdsOnly.Suffices(files.Concat(evalFiles ?? Array.Empty<DataFile>()))
            ? new TokenIdsOnly(model.Config.VocabSize)
            : Inputs.RequireTokenizer(tokenizerOrNull, baseDir, "train");
        long padId = tokenizer.PadId ?? tokenizer.EosId ?? 0;

        var tokenized = new List<TokenizedData>();
        for (int i = 0; i < files.Count; i++)
        {
            TokenizedData t = SequenceBuilder.BuildTraining(files[i], tokenizer, sequenceOptions, Inputs.TaskOf(files[i], tasks, i));
            tokenized.Add(t);
            Log($"data: {files[i].File} ({t.Task}): {t.Sequences.Count} sequences" + (files[i].SkippedLines + t.Skipped > 0 ? $", {files[i].SkippedLines + t.Skipped} bad lines skipped" : "") + (t.Truncated > 0 ? $", {t.Truncated} truncated to {sequenceOptions.MaxTokens} tokens" : ""));
        }
        IReadOnlyList<TokenSequence> pool = SequenceBuilder.Mix(tokenized, (int)trainerOptions.Seed)
            .Select(TokenSequence.Of).ToList();
        if (pack)
        {
            PackedPool packed = SequencePacker.Pack(pool, sequenceOptions.MaxTokens);
            pool = packed.Rows;
            Log($"packing: {packed.Examples} examples in {packed.Rows.Count} sequences of up to {packed.RowLength} tokens ({packed.Fill:P1} full)");
        }
        var source = new SequencePoolBatches(pool, batchSize, padId, (int)trainerOptions.Seed, device);

        Func<double>? evaluate = null;
        if (evalFiles is not null)
        {
            var evalPool = new List<TokenSequence>();
            for (int i = 0; i < evalFiles.Count; i++)
                evalPool.AddRange(SequenceBuilder.BuildTraining(evalFiles[i], tokenizer, sequenceOptions with { MaskPrompt = true }, Inputs.TaskOf(evalFiles[i], evalTasks ?? tasks, i)).Sequences
                    .Select(TokenSequence.Of));
            evaluate = () => Trainer.EvaluateLoss(model, TokenBatch.Chunks(evalPool, batchSize, padId, device));
        }

        string runKey = TrainingRun.KeyOf(method.Name, pool, batchSize, trainerOptions.GradientAccumulation, trainerOptions.Seed);
        Log($"{method.Name}: {model.CountAdapterParameters().ToString("N0", CultureInfo.InvariantCulture)} trainable parameters; {pool.Count} sequences{(pack ? " (packed)" : "")}; {steps} steps x {batchSize} x {trainerOptions.GradientAccumulation}; out {outDir}");
        if (device.type == TorchSharp.DeviceType.CPU) Log($"cpu kernels: {ExpertKernels.Describe()}");

        int stopRequested = 0;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { if (Interlocked.Exchange(ref stopRequested, 1) == 0) ctx.Cancel = true; });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { if (Interlocked.Exchange(ref stopRequested, 1) == 0) ctx.Cancel = true; });

        var trainCurve = new List<(int, double)>();
        var auxCurves = new SortedDictionary<string, List<(int, double)>>(StringComparer.Ordinal);
        var evalCurve = new List<(int, double)>();
        var watch = Stopwatch.StartNew();
        long tokensSeen = 0;
        int firstStep = -1;
        model.ExpertLoad.Tracking = model.Spec.IsMixture;
        FolderLock folderLock = held.Take();
        using var board = TensorBoard.TryCreate(Path.Combine(outDir, "tensorboard"));
        int resumedFrom = resume ? TrainingCheckpoint.ReadState(TrainingCheckpoint.Latest(outDir)!).Step : 0;

        TrainingRunResult result = ProgressView.Run("train", steps, resumedFrom, update =>
        {
            var run = new TrainingRun(model, trainerOptions, source, new TrainingRunOptions
            {
                OutputDirectory = outDir, SaveEvery = saveEvery, EvalEvery = evalEvery, Resume = resume, AllowSettingChanges = allowChanges, HeldLock = folderLock,
                BaseModelNameOrPath = a.String("model") == Inputs.Embedded ? "embedded" : baseDir, RunKey = runKey,
            })
            {
                StopRequested = () => Volatile.Read(ref stopRequested) == 1,
                Evaluate = evaluate,
                OnStep = r =>
                {
                    if (firstStep < 0) { firstStep = r.Step; watch.Restart(); }
                    tokensSeen += r.Tokens;
                    trainCurve.Add((r.Step, r.LmLoss));
                    board?.Scalar("train/loss", r.LmLoss, r.Step);
                    foreach (var (k, v) in r.AuxLosses)
                    {
                        board?.Scalar("train/" + k, v, r.Step);
                        if (!auxCurves.TryGetValue(k, out var curve)) auxCurves[k] = curve = new List<(int, double)>();
                        curve.Add((r.Step, v));
                    }
                    board?.Scalar("train/lr", r.LearningRate, r.Step);
                    double rate = watch.Elapsed.TotalSeconds > 0 ? tokensSeen / watch.Elapsed.TotalSeconds : 0;
                    string aux = string.Concat(r.AuxLosses.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"  {kv.Key} {kv.Value:F4}"));
                    update(r.Step, $"loss {r.LmLoss:F4}{aux}  lr {r.LearningRate:G3}  {rate:F0} tok/s" + (r.Skipped ? "  SKIPPED (non-finite)" : ""));
                },
                OnEvaluate = (step, loss) =>
                {
                    evalCurve.Add((step, loss));
                    board?.Scalar("eval/loss", loss, step);
                    Console.WriteLine($"eval step {step}: held-out loss {loss:F4}");
                },
            };
            return run.Run();
        });

        if (result.SettingChanges is { Count: > 0 } changes)
            Console.WriteLine($"resumed from step {result.ResumedFrom} with changed settings (--resume-with-changes, recorded in metrics.jsonl): {string.Join(", ", changes)}");
        if (result.Outcome == RunOutcome.Interrupted)
        {
            Console.WriteLine($"interrupted after step {result.LastStep}; checkpoint saved to {result.Checkpoint}");
            Console.WriteLine($"resume with: moedsl {string.Join(" ", Environment.GetCommandLineArgs().Skip(1).Where(x => x != "--resume").Select(Quote))} --resume");
            return ExitInterrupted;
        }

        if (plots) WritePlots(outDir, method, model, trainCurve, evalCurve, auxCurves.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<(int, double)>)kv.Value, StringComparer.Ordinal));
        Console.WriteLine($"done: {result.LastStep} steps" + (result.ResumedFrom > 0 ? $" (resumed from step {result.ResumedFrom})" : "") +
                          $", {FinalLoss(trainCurve.Select(p => p.Item2).ToList())}, skipped {result.SkippedSteps} non-finite step(s), {watch.Elapsed.TotalSeconds:F1}s");
        Console.WriteLine($"adapter: {result.AdapterDirectory}");
        Console.WriteLine($"metrics: {Path.Combine(outDir, TrainingRun.MetricsFile)}");
        return 0;
    }

    /// <summary>The lock on a train run's output folder: taken at once when the folder exists, else on the first
    /// <see cref="Take"/> (which creates it), released at the end of the command.</summary>
    private sealed class OutputFolderHold : IDisposable
    {
        private readonly string folder;
        private FolderLock? held;

        public OutputFolderHold(string folder)
        {
            this.folder = folder;
            if (Directory.Exists(folder)) held = FolderLock.Acquire(FolderLock.PathIn(folder));
        }

        public FolderLock Take() => held ??= FolderLock.Acquire(FolderLock.PathIn(folder));

        public void Dispose() => held?.Dispose();
    }

    private static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./,=:+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>The end-of-run loss summary: the mean LM loss of the last <paramref name="window"/> finite steps of this
    /// process, saying how many steps it averages (a 4-step run is "mean of the last 4 steps", one step "the one step").</summary>
    public static string FinalLoss(IReadOnlyList<double> losses, int window = 10)
    {
        ArgumentNullException.ThrowIfNull(losses);
        double[] last = losses.Where(double.IsFinite).TakeLast(window).ToArray();
        return last.Length switch
        {
            0 => "final loss n/a (no finite step in this process)",
            1 => $"final loss {last[0].ToString("F4", CultureInfo.InvariantCulture)} (the one step)",
            _ => $"final loss {last.Average().ToString("F4", CultureInfo.InvariantCulture)} (mean of the last {last.Length} steps)",
        };
    }

    private static void WritePlots(string outDir, DeclaredModel method, MoeCausalLM model, List<(int, double)> train, List<(int, double)> eval,
                                   IReadOnlyDictionary<string, IReadOnlyList<(int, double)>> auxiliary)
    {
        try
        {
            string loss = Path.Combine(outDir, "loss.png");
            Plots.LossCurves(loss, $"{method.Name} loss", train, eval, auxiliary);
            Console.WriteLine($"plot: {loss}");
            if (model.Spec.IsMixture)
            {
                double[,] counts = model.ExpertLoad.Snapshot();
                if (counts.Length > 0)
                {
                    File.WriteAllText(Path.Combine(outDir, "expert_load.json"), JsonSerializer.Serialize(
                        Enumerable.Range(0, counts.GetLength(0)).Select(l => Enumerable.Range(0, model.Spec.ExpertsPerLayer[l]).Select(e => counts[l, e]).ToArray()).ToArray()));
                    string heat = Path.Combine(outDir, "expert_load.png");
                    Plots.ExpertLoad(heat, $"{method.Name}: expert load per layer (training, this process)", counts, model.Spec.ExpertsPerLayer);
                    Console.WriteLine($"plot: {heat}");
                }
            }
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"moedsl: plots skipped: ScottPlot could not render ({e.GetBaseException().Message}); metrics.jsonl holds the numbers");
        }
    }

    // ---------------------------------------------------------------- eval

    private static int Eval(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        DeclaredModel method = MethodOf(a, methods) ?? throw new UsageException($"'{a.Verb}' needs --method or --spec");
        string data = a.RequiredString("data");
        string? tasks = a.String("task");
        string? adapter = a.String("adapter");
        if (adapter is not null && !Directory.Exists(adapter)) throw new UsageException($"--adapter '{adapter}' is not a folder; pass the folder holding adapter_config.json and adapter_model.safetensors");
        string? outFile = a.String("out");
        int limit = a.Int("limit", 0);
        var sequenceOptions = new SequenceOptions { MaxTokens = a.Int("max-length", 3, 1 << 20), SkipBadLines = a.Has("skip-bad-lines") };
        Device device = PickDevice(a);
        IReadOnlyList<DataFile> files = Inputs.Files(data, tasks, heldOut: true, new JsonlReadOptions { SkipBadLines = sequenceOptions.SkipBadLines });
        foreach (DataFile f in files)
            if (!DataLayouts.IsMultipleChoice(f.Layout))
                throw new UsageException($"eval scores multiple-choice tasks; {f.File} has the {f.Layout} layout");

        var (model, baseDir, tokenizerOrNull) = LoadModel(a, method, device);
        using var _ = model;
        if (adapter is not null) AdapterStore.Load(model, adapter);
        else Log($"{method.Name}: no --adapter given; evaluating freshly initialised adapters (LoRA B = 0: the base model's answers)");
        ITokenizer tokenizer = Inputs.RequireTokenizer(tokenizerOrNull, baseDir, "eval");

        var results = new List<TaskAccuracy>();
        for (int i = 0; i < files.Count; i++)
        {
            string task = Inputs.TaskOf(files[i], tasks, i);
            var items = SequenceBuilder.BuildEvaluation(files[i], tokenizer, sequenceOptions, task);
            if (limit > 0) items = items.Take(limit).ToList();
            TaskAccuracy r = ProgressView.Run($"eval {task}", items.Count, 0, update => MultipleChoiceScorer.Evaluate(model, task, items, n => update(n, "")));
            results.Add(r);
        }

        Console.WriteLine($"{"task",-16} {"items",6} {"label acc",9} {"acc",7} {"acc_norm",8}");
        foreach (TaskAccuracy r in results)
            Console.WriteLine($"{r.Task,-16} {r.Items,6} {r.LabelAccuracy * 100,8:F2}% {r.Accuracy * 100,6:F2}% {r.NormalizedAccuracy * 100,7:F2}%");
        if (results.Count > 1)
            Console.WriteLine($"{"mean",-16} {results.Sum(r => r.Items),6} {results.Average(r => r.LabelAccuracy) * 100,8:F2}% {results.Average(r => r.Accuracy) * 100,6:F2}% {results.Average(r => r.NormalizedAccuracy) * 100,7:F2}%");
        if (outFile is not null)
        {
            var json = new JsonObject
            {
                ["method"] = method.Name,
                ["model"] = a.String("model"),
                ["adapter"] = adapter,
                ["tasks"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
                {
                    ["task"] = r.Task, ["items"] = r.Items, ["label_acc"] = r.LabelAccuracy, ["acc"] = r.Accuracy, ["acc_norm"] = r.NormalizedAccuracy,
                }).ToArray()),
            };
            string full = Path.GetFullPath(outFile);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"results: {full}");
        }
        return 0;
    }

    // ---------------------------------------------------------------- generate

    private static int Generate(CommandLineArguments a, IReadOnlyList<DeclaredModel> methods)
    {
        string modelArg = a.RequiredString("model");
        var options = new GenerationOptions(
            MaxNewTokens: a.Int("max-new-tokens", 1, 1_000_000),
            Temperature: a.Double("temperature", 0, 100),
            TopK: a.Int("top-k", 0),
            Seed: a.Int("seed", 0),
            StopAtEos: a.Has("stop-at-eos"));
        string format = a.Choice("format");
        DeclaredModel? method = MethodOf(a, methods);
        string? adapter = a.String("adapter");
        if (adapter is not null && method is null) throw new UsageException("--adapter needs --method (the declaration the adapter was trained with)");
        if (adapter is not null && !Directory.Exists(adapter)) throw new UsageException($"--adapter '{adapter}' is not a folder");
        if (a.Has("prompt-ids") == a.Has("prompt")) throw new UsageException("give exactly one of --prompt-ids (token ids) and --prompt (text, needs the model's tokenizer)");
        string dir = Inputs.ModelDirectory(modelArg, Log);
        Device device = PickDevice(a);
        ITokenizer? tokenizer = Inputs.Tokenizer(modelArg, dir);

        ScalarType? baseDType = BaseDType(a);
        ScalarType loadDType = baseDType ?? DeviceSelection.BaseDtype(device);
        MoeCausalLM lm;
        if (method is null) lm = PlainCausalLM.FromPretrained(dir, device: null, loadDType);
        else
        {
            lm = Build(method, dir, loadDType, out _);
            if (adapter is not null) AdapterStore.Load(lm, adapter);
        }
        using var owned = lm;
        DeviceSelection.Place(lm, device, baseDType);
        long[] prompt;
        if (a.Has("prompt-ids"))
        {
            prompt = a.Ids("prompt-ids");
            foreach (long id in prompt)
                if (id < 0 || id >= lm.Config.VocabSize) throw new UsageException($"--prompt-ids: token id {id} is outside the vocabulary [0, {lm.Config.VocabSize})");
        }
        else
        {
            ITokenizer t = Inputs.RequireTokenizer(tokenizer, dir, "generate --prompt");
            IReadOnlyList<int> ids;
            try { ids = t.Encode(a.RequiredString("prompt")); }
            catch (ArgumentException e) { throw new UsageException("--prompt: " + e.Message.Split(" (Parameter", 2)[0]); }
            prompt = (t.BosId is int bos ? new[] { bos }.Concat(ids) : ids).Select(i => (long)i).ToArray();
        }
        IReadOnlyList<long> result = TextGenerator.Generate(lm, prompt, options);
        if (format == "text")
            Console.WriteLine(Inputs.RequireTokenizer(tokenizer, dir, "generate --format text").Decode(result.Select(x => (int)x)));
        else
            Console.WriteLine(format == "json" ? "[" + string.Join(",", result) + "]" : string.Join(" ", result));
        return 0;
    }
}
