using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Training;

/// <summary>Where a run stood when a checkpoint was written.</summary>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="Epoch">Data epoch (<see cref="SequencePoolBatches.Epoch"/>).</param>
/// <param name="Position">Data position (<see cref="SequencePoolBatches.Position"/>).</param>
/// <param name="SkippedSteps">Non-finite steps skipped so far.</param>
/// <param name="ConsecutiveNonFinite">Non-finite steps in a row at the end of <paramref name="Step"/>.</param>
/// <param name="RunKey">What the run was (method, data size, batch, seed); a resume must match it.</param>
/// <param name="Settings">The training settings (<see cref="TrainingSettings.Of"/>); a resume with other ones is refused
/// unless allowed. Null in checkpoints written before settings were recorded (those resume unchecked).</param>
public sealed record CheckpointState(int Step, int Epoch, int Position, int SkippedSteps, int ConsecutiveNonFinite, string RunKey,
    IReadOnlyDictionary<string, string>? Settings = null);

/// <summary>Checkpoint folders of a training run: <c>OUT/checkpoints/checkpoint-NNNNNNNN</c>, each holding the adapter
/// (<see cref="AdapterStore"/> files), the AdamW state (<c>optimizer.bin</c>, TorchSharp's optimizer state format), torch's
/// CPU generator state (<c>rng_state.bin</c>), the step and data position (<c>trainer_state.json</c>) and the metrics
/// so far (<c>metrics.jsonl</c>). A checkpoint is written into a temporary folder beside the final one, every file and the
/// folder are flushed to disk, and only then does it take the final name (the checkpoints folder is flushed after each
/// rename): a folder named <c>checkpoint-N</c> is always complete, whatever moment the process was killed at. A save of a
/// step that already has a checkpoint (a resume with <c>--steps</c> at or below it, an interrupt right after a resume)
/// never removes the existing one before its replacement is durable: on Linux the two folders are swapped in one atomic
/// step (<c>renameat2(RENAME_EXCHANGE)</c>); elsewhere the old one is first renamed aside to
/// <c>.checkpoint-N.old-PID</c>, which <see cref="Latest"/> counts as the checkpoint of step N and
/// <see cref="RemoveIncomplete"/> renames back, should the process die before the new one is in place. A save that fails
/// (a full disk) removes its temporary folder and leaves every existing checkpoint as it was. The newest two are kept.</summary>
public static class TrainingCheckpoint
{
    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>Folder under the run's output folder.</summary>
    public const string FolderName = "checkpoints";
    /// <summary>Checkpoint folder name prefix.</summary>
    public const string Prefix = "checkpoint-";
    /// <summary>Optimizer state file.</summary>
    public const string OptimizerFile = "optimizer.bin";
    /// <summary>Generator state file.</summary>
    public const string RngFile = "rng_state.bin";
    /// <summary>Step, data position and counters.</summary>
    public const string StateFile = "trainer_state.json";
    /// <summary>Metrics written up to the checkpoint.</summary>
    public const string MetricsFile = "metrics.jsonl";
    /// <summary>Checkpoints kept (older ones are deleted after a newer one is complete).</summary>
    public const int Keep = 2;

    /// <summary>Test hook: milliseconds to sleep between the files of a save (environment variable), so a test can kill
    /// the process in the middle of one.</summary>
    public const string SaveDelayVariable = "MOEDSL_TEST_SAVE_DELAY_MS";

    /// <summary>Test hook (environment variable): the name of a moment of a save (<see cref="PausePoints"/>) at which the
    /// process writes <c>test hook: save of step N paused at NAME</c> to stderr and sleeps a minute, so a test can kill it
    /// exactly there.</summary>
    public const string SavePauseVariable = "MOEDSL_TEST_SAVE_PAUSE_AT";

    /// <summary>The moments <see cref="SavePauseVariable"/> can name: <c>written</c> (the new checkpoint complete and
    /// flushed under its temporary name, the old one in place), <c>exchanged</c> (Linux: swapped, the old one under the
    /// temporary name, not yet deleted), <c>aside</c> (fallback: the old one renamed aside, the new one not yet in
    /// place) and <c>replaced</c> (fallback: the new one in place, the old one aside, not yet deleted).</summary>
    public static readonly string[] PausePoints = { "written", "exchanged", "aside", "replaced" };

    private const string AsideMarker = ".old-";
    private const string TempMarker = ".tmp-";

    /// <summary>The checkpoints folder of an output folder.</summary>
    public static string Root(string outputDirectory) => Path.Combine(outputDirectory, FolderName);

    /// <summary>The newest complete checkpoint folder, or null. A checkpoint renamed aside by a replacement that did not
    /// finish (<c>.checkpoint-N.old-PID</c> with no <c>checkpoint-N</c>) counts as the checkpoint of step N.</summary>
    public static string? Latest(string outputDirectory)
    {
        string root = Root(outputDirectory);
        if (!Directory.Exists(root)) return null;
        var complete = Directory.EnumerateDirectories(root, Prefix + "*").Select(d => (Dir: d, Step: StepOf(d))).Where(x => x.Step >= 0).ToList();
        var orphans = Directory.EnumerateDirectories(root, "." + Prefix + "*")
            .Select(d => (Dir: d, Step: AsideStepOf(d)))
            .Where(x => x.Step >= 0 && !complete.Any(c => c.Step == x.Step));
        return complete.Concat(orphans)
            .OrderByDescending(x => x.Step)
            .ThenBy(x => Path.GetFileName(x.Dir).StartsWith('.') ? 1 : 0)
            .ThenBy(x => x.Dir, StringComparer.Ordinal)
            .Select(x => x.Dir)
            .FirstOrDefault();
    }

    private static int StepOf(string dir)
    {
        string name = Path.GetFileName(dir);
        return name.StartsWith(Prefix, StringComparison.Ordinal) && int.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : -1;
    }

    // N of ".checkpoint-N.old-PID", else -1.
    private static int AsideStepOf(string dir)
    {
        string name = Path.GetFileName(dir);
        if (!name.StartsWith("." + Prefix, StringComparison.Ordinal)) return -1;
        int marker = name.IndexOf(AsideMarker, StringComparison.Ordinal);
        int start = Prefix.Length + 1;
        return marker > start && int.TryParse(name.AsSpan(start, marker - start), NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : -1;
    }

    private static string StepName(int step) => Prefix + step.ToString("D8", CultureInfo.InvariantCulture);

    /// <summary>Writes a checkpoint and returns its folder. Throws <see cref="IOException"/> naming the checkpoint when a
    /// file cannot be written (a full disk, a file-size limit); the temporary folder is removed and existing checkpoints
    /// stay as they were.</summary>
    public static string Save(string outputDirectory, MoeCausalLM model, Trainer trainer, CheckpointState state, IReadOnlyList<string> metricLines, string baseModelNameOrPath)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(state);
        string root = Root(outputDirectory);
        if (!Directory.Exists(root))
        {
            Directory.CreateDirectory(root);
            DurableDirectory.Sync(Path.GetDirectoryName(Path.GetFullPath(root))!);
        }
        string name = StepName(state.Step);
        string final = Path.Combine(root, name);
        string temp = Path.Combine(root, "." + name + TempMarker + Environment.ProcessId);
        int delay = int.TryParse(Environment.GetEnvironmentVariable(SaveDelayVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int d) ? d : 0;
        bool published = false;
        try
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            Directory.CreateDirectory(temp);
            AdapterStore.Save(model, temp, baseModelNameOrPath);
            Pause(delay);
            trainer.Optimizer.save_state_dict(Path.Combine(temp, OptimizerFile));
            Pause(delay);
            using (Tensor rng = random.get_rng_state())
                File.WriteAllBytes(Path.Combine(temp, RngFile), rng.data<byte>().ToArray());
            File.WriteAllLines(Path.Combine(temp, MetricsFile), metricLines);
            Pause(delay);
            File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state, IndentedJson));
            foreach (string file in Directory.EnumerateFiles(temp))
            {
                using var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                fs.Flush(flushToDisk: true);
            }
            DurableDirectory.Sync(temp);
            PauseAt("written", state.Step);
            published = true;
            if (Directory.Exists(final)) Replace(root, temp, final, state.Step);
            else Directory.Move(temp, final);
            DurableDirectory.Sync(root);
        }
        catch (Exception e) when (!published && (e is IOException or UnauthorizedAccessException || IsFileTooLarge(e)))
        {
            // The new checkpoint never took its name; what is left of it goes, existing checkpoints were not touched.
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { /* RemoveIncomplete deletes it on resume */ }
            string? previous = Latest(outputDirectory);
            throw new IOException($"{final}: the checkpoint of step {state.Step} could not be written ({(IsFileTooLarge(e) ? "a file would exceed the file system's or the process's file-size limit" : e.Message.TrimEnd('.'))}); "
                                  + (previous is null ? "no earlier checkpoint exists" : $"the previous checkpoint {Path.GetFileName(previous)} is intact; free space and continue with --resume"), e);
        }

        // Older checkpoints go only now that the new one is durable; each is renamed out of the checkpoint names first,
        // so a kill during the (non-atomic) recursive delete never leaves a partial folder named checkpoint-N.
        foreach (string old in Directory.EnumerateDirectories(root, Prefix + "*").Where(x => StepOf(x) >= 0).OrderByDescending(StepOf).Skip(Keep).ToList())
        {
            string doomed = Path.Combine(root, "." + Path.GetFileName(old) + ".del-" + Environment.ProcessId);
            Directory.Move(old, doomed);
            Directory.Delete(doomed, recursive: true);
        }
        return final;
    }

    // EFBIG (a file larger than the file system or the process's RLIMIT_FSIZE allows) is a storage failure like ENOSPC,
    // but .NET reports it as ArgumentOutOfRangeException("value", "Specified file length was too large for the file system").
    private static bool IsFileTooLarge(Exception e) => e is ArgumentOutOfRangeException { ParamName: "value" };

    // Puts the complete, flushed folder `temp` in the place of the existing checkpoint `final` of the same step so that a
    // complete checkpoint of that step exists at every instant, under its name or (fallback) under the aside name.
    private static void Replace(string root, string temp, string final, int step)
    {
        if (DurableDirectory.TryExchange(temp, final))
        {
            DurableDirectory.Sync(root);
            PauseAt("exchanged", step);
            Directory.Delete(temp, recursive: true);   // now the old checkpoint
            return;
        }
        string aside = Path.Combine(root, "." + Path.GetFileName(final) + AsideMarker + Environment.ProcessId);
        if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
        Directory.Move(final, aside);
        DurableDirectory.Sync(root);
        PauseAt("aside", step);
        try { Directory.Move(temp, final); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Directory.Move(aside, final);
            throw;
        }
        DurableDirectory.Sync(root);
        PauseAt("replaced", step);
        Directory.Delete(aside, recursive: true);
    }

    /// <summary>Cleans the checkpoints folder after an interrupted save: a checkpoint renamed aside by a replacement that
    /// did not finish is renamed back to <c>checkpoint-N</c> when that name is free; every other dot folder (temporary,
    /// aside or being deleted; none of them is the newest complete checkpoint of its step) is deleted. Returns the number
    /// of folders deleted.</summary>
    public static int RemoveIncomplete(string outputDirectory)
    {
        string root = Root(outputDirectory);
        if (!Directory.Exists(root)) return 0;
        int n = 0;
        foreach (string dir in Directory.EnumerateDirectories(root, "." + Prefix + "*").Order(StringComparer.Ordinal).ToList())
        {
            int step = AsideStepOf(dir);
            string final = Path.Combine(root, StepName(Math.Max(step, 0)));
            if (step >= 0 && !Directory.Exists(final))
            {
                Directory.Move(dir, final);
                DurableDirectory.Sync(root);
                continue;
            }
            Directory.Delete(dir, recursive: true);
            n++;
        }
        return n;
    }

    /// <summary>Reads a checkpoint's state (without touching the model).</summary>
    public static CheckpointState ReadState(string checkpointDirectory)
    {
        string path = Path.Combine(checkpointDirectory, StateFile);
        if (!File.Exists(path)) throw new ModelFormatException(checkpointDirectory, StateFile, "is missing; the folder is not a complete training checkpoint");
        try
        {
            return JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path))
                   ?? throw new ModelFormatException(path, null, "is empty");
        }
        catch (JsonException e) { throw new ModelFormatException(path, null, $"is not a valid checkpoint state ({e.Message})"); }
    }

    /// <summary>Restores adapter, optimizer state, generator state and counters; returns the state and the metrics lines.
    /// <paramref name="runKey"/> must equal the one the checkpoint was written with.</summary>
    public static (CheckpointState State, IReadOnlyList<string> Metrics) Restore(string checkpointDirectory, MoeCausalLM model, Trainer trainer, string runKey)
    {
        CheckpointState state = ReadState(checkpointDirectory);
        if (state.RunKey != runKey)
            throw new ModelFormatException(Path.Combine(checkpointDirectory, StateFile), "RunKey",
                $"is '{state.RunKey}' but this run is '{runKey}'; resume with the method, data, batch size and seed the checkpoint was written with, or use another --out");
        AdapterStore.LoadInto(model, checkpointDirectory, resumingTraining: true);
        string optimizer = Path.Combine(checkpointDirectory, OptimizerFile);
        if (!File.Exists(optimizer)) throw new ModelFormatException(checkpointDirectory, OptimizerFile, "is missing");
        trainer.Optimizer.load_state_dict(optimizer);
        string rngPath = Path.Combine(checkpointDirectory, RngFile);
        if (!File.Exists(rngPath)) throw new ModelFormatException(checkpointDirectory, RngFile, "is missing");
        byte[] rng = File.ReadAllBytes(rngPath);
        using (Tensor t = tensor(rng, dtype: ScalarType.Byte))
            random.set_rng_state(t);
        trainer.RestoreCounters(state.SkippedSteps, state.ConsecutiveNonFinite);
        string metrics = Path.Combine(checkpointDirectory, MetricsFile);
        IReadOnlyList<string> lines = File.Exists(metrics) ? File.ReadAllLines(metrics).Where(l => l.Length > 0).ToArray() : Array.Empty<string>();
        return (state, lines);
    }

    private static void Pause(int milliseconds)
    {
        if (milliseconds > 0) Thread.Sleep(milliseconds);
    }

    private static void PauseAt(string point, int step)
    {
        if (Environment.GetEnvironmentVariable(SavePauseVariable) != point) return;
        Console.Error.WriteLine($"test hook: save of step {step} paused at {point}");
        Console.Error.Flush();
        Thread.Sleep(60_000);
    }
}
