using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Runtime.Training;

/// <summary>Settings of a <see cref="TrainingRun"/> beyond the optimizer's.</summary>
public sealed record TrainingRunOptions
{
    /// <summary>Output folder: <c>metrics.jsonl</c>, <c>checkpoints/</c>, <c>adapter/</c>. Null runs in memory: no metrics
    /// file, no checkpoints, no resume, and an adapter only where <see cref="AdapterDirectory"/> names a folder.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Where the final adapter is written; null means <c>adapter/</c> in the output folder, or no adapter at all
    /// when the run is in memory.</summary>
    public string? AdapterDirectory { get; init; }
    /// <summary>Write a checkpoint every N steps (0: only at the end and on interruption; needs an output folder).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Evaluate the held-out loss every N steps and after the last (0: never; needs an evaluator).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Continue from the newest complete checkpoint in the output folder.</summary>
    public bool Resume { get; init; }
    /// <summary>Recorded in adapter_config.json as base_model_name_or_path.</summary>
    public string BaseModelNameOrPath { get; init; } = "";
    /// <summary>Identifies the run (method, data, batch, seed); a resumed checkpoint must carry the same key.</summary>
    public string RunKey { get; init; } = "";
    /// <summary>Resume even when the training settings (<see cref="TrainingSettings"/>: learning rate, schedule, warm-up,
    /// steps of a decaying schedule, weight decay, betas, clipping, accumulation) differ from the checkpoint's; the change
    /// is then recorded in the metrics. False (the default) refuses such a resume with
    /// <see cref="ResumeSettingsChangedException"/> naming each change.</summary>
    public bool AllowSettingChanges { get; init; }
    /// <summary>A lock on the output folder (<see cref="FolderLock.PathIn"/>) the caller already holds; null: the run
    /// takes it itself. Either way no second run writes into the folder while this one runs.</summary>
    public FolderLock? HeldLock { get; init; }
}

/// <summary>How a run ended.</summary>
public enum RunOutcome
{
    /// <summary>All steps done; with an output folder the final checkpoint and adapter are written.</summary>
    Completed,
    /// <summary>Stopped on request (Ctrl-C); with an output folder a checkpoint of the last completed step was written.</summary>
    Interrupted,
}

/// <summary>The result of <see cref="TrainingRun.Run"/>.</summary>
/// <param name="Outcome">Completed or interrupted.</param>
/// <param name="LastStep">Last completed step.</param>
/// <param name="ResumedFrom">Step the run resumed from (0 when fresh).</param>
/// <param name="Checkpoint">The last checkpoint written (or resumed from), or null.</param>
/// <param name="AdapterDirectory">The final adapter folder (completed runs that save one), or null.</param>
/// <param name="Steps">Reports of the steps this process ran.</param>
/// <param name="SkippedSteps">Non-finite steps skipped over the whole run.</param>
/// <param name="SettingChanges">Settings that differ from the resumed checkpoint's (allowed changes), or null.</param>
public sealed record TrainingRunResult(RunOutcome Outcome, int LastStep, int ResumedFrom, string? Checkpoint, string? AdapterDirectory, IReadOnlyList<StepReport> Steps, int SkippedSteps,
    IReadOnlyList<SettingChange>? SettingChanges = null);

/// <summary>The training loop: <c>moedsl train</c>, the examples' method comparison and the embedded base's
/// pre-training all run their steps here. Optional parts: metrics, periodic evaluation, atomic checkpoints, exact resume
/// and a clean stop on request. Resuming restores the adapter, the AdamW state, the schedule position (the step), torch's
/// CPU generator, the data position and the counters, so N steps + resume to 2N gives the same numbers as 2N steps in one
/// go; a resume whose training settings differ from the checkpoint's is refused unless allowed. While it runs, the output
/// folder is held with an OS file lock (<see cref="FolderLock"/>): a second run into the same folder is refused, naming
/// the holder, and the lock of a killed run is released by the OS. Without an output folder the run touches no files
/// unless an adapter folder is named.</summary>
public sealed class TrainingRun
{
    /// <summary>Metrics file in the output folder.</summary>
    public const string MetricsFile = "metrics.jsonl";
    /// <summary>Final adapter folder in the output folder.</summary>
    public const string AdapterFolder = "adapter";

    private readonly MoeCausalLM model;
    private readonly TrainerOptions trainerOptions;
    private readonly SequencePoolBatches source;
    private readonly TrainingRunOptions options;
    private readonly List<string> metrics = new();

    /// <summary>A run of <paramref name="model"/>'s trainable parameters on batches from <paramref name="source"/>;
    /// nothing happens until <see cref="Run"/>. Throws <see cref="ArgumentException"/> on impossible settings.</summary>
    public TrainingRun(MoeCausalLM model, TrainerOptions trainerOptions, SequencePoolBatches source, TrainingRunOptions options)
    {
        trainerOptions.Validate();
        if (options.SaveEvery < 0) throw new ArgumentException($"save-every must be >= 0 (got {options.SaveEvery})");
        if (options.EvalEvery < 0) throw new ArgumentException($"eval-every must be >= 0 (got {options.EvalEvery})");
        if (options.OutputDirectory is null && (options.SaveEvery > 0 || options.Resume))
            throw new ArgumentException("checkpoints (save-every, resume) need an output folder");
        if (options.HeldLock is not null && (options.OutputDirectory is null || !options.HeldLock.IsHeld
                                             || options.HeldLock.LockFile != FolderLock.PathIn(options.OutputDirectory)))
            throw new ArgumentException("the held lock must be a live lock of the output folder (FolderLock.PathIn)");
        this.model = model;
        this.trainerOptions = trainerOptions;
        this.source = source;
        this.options = options;
    }

    /// <summary>Polled before every step; true stops the run (with a checkpoint when there is an output folder).</summary>
    public Func<bool>? StopRequested { get; init; }
    /// <summary>Held-out loss, called every <see cref="TrainingRunOptions.EvalEvery"/> steps and after the last.</summary>
    public Func<double>? Evaluate { get; init; }
    /// <summary>Called after every step (progress, curves).</summary>
    public Action<StepReport>? OnStep { get; init; }
    /// <summary>Called after every evaluation with (step, loss).</summary>
    public Action<int, double>? OnEvaluate { get; init; }
    /// <summary>Called after every checkpoint with (step, folder).</summary>
    public Action<int, string>? OnCheckpoint { get; init; }

    /// <summary>Metric lines (JSON) recorded so far, resumed ones included; kept in memory also when no file is written.</summary>
    public IReadOnlyList<string> MetricLines => metrics;

    /// <summary>Runs to <see cref="TrainerOptions.Steps"/> (or until stopped). A non-finite streak beyond the limit throws
    /// <see cref="NonFiniteTrainingException"/>; nothing is saved after the last finite checkpoint then.</summary>
    public TrainingRunResult Run()
    {
        string? outDir = options.OutputDirectory;
        // Taken before anything in the folder is read or written; a held lock throws FolderLockedException.
        using FolderLock? folderLock = outDir is null || options.HeldLock is not null ? null : FolderLock.Acquire(FolderLock.PathIn(outDir));
        using var trainer = new Trainer(model, trainerOptions);
        int start = 0;
        string? lastCheckpoint = null;
        IReadOnlyList<SettingChange>? changes = null;
        if (!options.Resume && outDir is not null && TrainingCheckpoint.Latest(outDir) is string existing)
            throw new InvalidOperationException($"{outDir} already holds a checkpoint ({Path.GetFileName(existing)}); resume that run, or choose another output folder");
        if (options.Resume)
        {
            TrainingCheckpoint.RemoveIncomplete(outDir!);
            string checkpoint = TrainingCheckpoint.Latest(outDir!)
                ?? throw new InvalidOperationException($"--resume: {TrainingCheckpoint.Root(outDir!)} holds no complete checkpoint; start without --resume");
            changes = CheckResumable(checkpoint);
            var (state, lines) = TrainingCheckpoint.Restore(checkpoint, model, trainer, options.RunKey);
            trainer.ApplyGroupOptions();   // the optimizer file brings the weight decay and betas it was saved with
            source.Seek(state.Epoch, state.Position);
            metrics.AddRange(lines);
            start = state.Step;
            lastCheckpoint = checkpoint;
        }
        using StreamWriter? writer = outDir is null ? null : OpenMetrics(Path.Combine(outDir, MetricsFile));
        if (changes is { Count: > 0 })
            Append(writer, new JsonObject
            {
                ["step"] = start,
                ["resumed_with_changes"] = new JsonObject(changes.Select(c => new KeyValuePair<string, JsonNode?>(c.Name, new JsonObject { ["old"] = c.Old, ["new"] = c.New }))),
            }.ToJsonString());

        var reports = new List<StepReport>();
        int step = start;
        while (step < trainerOptions.Steps)
        {
            if (StopRequested?.Invoke() == true)
            {
                if (outDir is not null) lastCheckpoint = SaveCheckpoint(trainer, step);
                return new TrainingRunResult(RunOutcome.Interrupted, step, start, lastCheckpoint, null, reports, trainer.SkippedSteps, changes);
            }
            step++;
            StepReport r;
            try { r = trainer.Step(step, source); }
            catch (NonFiniteTrainingException)
            {
                Append(writer, new JsonObject { ["step"] = step, ["skipped"] = true, ["stopped"] = "non-finite" }.ToJsonString());
                throw;
            }
            reports.Add(r);
            Append(writer, StepLine(r));
            OnStep?.Invoke(r);
            if (options.EvalEvery > 0 && Evaluate is not null && (step % options.EvalEvery == 0 || step == trainerOptions.Steps))
            {
                double loss = Evaluate();
                Append(writer, new JsonObject { ["step"] = step, ["eval_loss"] = Finite(loss) }.ToJsonString());
                OnEvaluate?.Invoke(step, loss);
            }
            if (options.SaveEvery > 0 && step % options.SaveEvery == 0 && step < trainerOptions.Steps)
                lastCheckpoint = SaveCheckpoint(trainer, step);
        }
        if (outDir is not null) lastCheckpoint = SaveCheckpoint(trainer, step);
        string? adapter = options.AdapterDirectory ?? (outDir is null ? null : Path.Combine(outDir, AdapterFolder));
        if (adapter is not null) AdapterStore.Save(model, adapter, options.BaseModelNameOrPath);
        return new TrainingRunResult(RunOutcome.Completed, step, start, lastCheckpoint, adapter, reports, trainer.SkippedSteps, changes);
    }

    // The run key must match (another method, data, batch or seed is another run); the training settings must match
    // unless changes are allowed. Returns the allowed changes (empty when none, null when the checkpoint has no record).
    private IReadOnlyList<SettingChange>? CheckResumable(string checkpoint)
    {
        CheckpointState recorded = TrainingCheckpoint.ReadState(checkpoint);
        if (recorded.RunKey != options.RunKey)
        {
            string[] was = recorded.RunKey.Split('|'), now = options.RunKey.Split('|');
            string diff = was.Length == now.Length
                ? string.Join(", ", was.Zip(now).Where(p => p.First != p.Second).Select(p => $"{p.First} -> {p.Second}"))
                : $"'{recorded.RunKey}' -> '{options.RunKey}'";
            throw new ModelFormatException(Path.Combine(checkpoint, TrainingCheckpoint.StateFile), "RunKey",
                $"differs from this run's ({diff}); resume with the method, data, batch size, accumulation and seed the checkpoint was written with, or use another output folder");
        }
        if (recorded.Settings is null) return null;
        IReadOnlyList<SettingChange> changes = TrainingSettings.Compare(recorded.Settings, TrainingSettings.Of(trainerOptions, model.Spec));
        if (changes.Count > 0 && !options.AllowSettingChanges) throw new ResumeSettingsChangedException(checkpoint, changes);
        return changes;
    }

    // The file is rewritten with the resumed lines (dropping any written after the checkpoint), then appended to.
    private StreamWriter OpenMetrics(string path)
    {
        File.WriteAllLines(path, metrics);
        return new StreamWriter(path, append: true);
    }

    private string SaveCheckpoint(Trainer trainer, int step)
    {
        var state = new CheckpointState(step, source.Epoch, source.Position, trainer.SkippedSteps, trainer.ConsecutiveNonFinite, options.RunKey,
            TrainingSettings.Of(trainerOptions, model.Spec));
        string dir = TrainingCheckpoint.Save(options.OutputDirectory!, model, trainer, state, metrics, options.BaseModelNameOrPath);
        OnCheckpoint?.Invoke(step, dir);
        return dir;
    }

    private void Append(StreamWriter? writer, string line)
    {
        metrics.Add(line);
        if (writer is null) return;
        writer.WriteLine(line);
        writer.Flush();
    }

    /// <summary>The run key of a fine-tuning run (<see cref="TrainingRunOptions.RunKey"/>): the method, the training pool
    /// (count and an FNV-1a hash of every id and label, in order), the batch size, the accumulation and the seed — what a
    /// resume can never change. A packed pool (<see cref="SequencePacker"/>) also hashes the examples' lengths and ends
    /// in <c>|packed</c>.</summary>
    public static string KeyOf(string method, IReadOnlyList<TokenSequence> pool, int batchSize, int gradientAccumulation, long seed)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ulong h = 14695981039346656037;
        foreach (TokenSequence s in pool)
        {
            foreach (long id in s.Ids) h = (h ^ (ulong)id) * 1099511628211;
            foreach (long id in s.Labels) h = (h ^ (ulong)id) * 1099511628211;
            foreach (int n in s.Segments ?? Array.Empty<int>()) h = (h ^ (ulong)n) * 1099511628211;
        }
        string packed = pool.Any(s => s.Segments is not null) ? PackedKeySuffix : "";
        return $"{method}|sequences={pool.Count}|hash={h.ToString("x16", CultureInfo.InvariantCulture)}|batch={batchSize}|accum={gradientAccumulation}|seed={seed}{packed}";
    }

    /// <summary>The end of the run key of a packed run (<see cref="KeyOf"/>).</summary>
    public const string PackedKeySuffix = "|packed";

    /// <summary>The metrics line of a step.</summary>
    public static string StepLine(StepReport r)
    {
        var aux = new JsonObject();
        foreach (var (k, v) in r.AuxLosses.OrderBy(kv => kv.Key, StringComparer.Ordinal)) aux[k] = Finite(v);
        return new JsonObject
        {
            ["step"] = r.Step, ["loss"] = Finite(r.LmLoss), ["aux"] = aux, ["lr"] = r.LearningRate, ["grad_norm"] = Finite(r.GradNorm),
            ["tokens"] = r.Tokens, ["seconds"] = Math.Round(r.Seconds, 6), ["skipped"] = r.Skipped,
        }.ToJsonString();
    }

    private static JsonValue? Finite(double v) => double.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture));
}
