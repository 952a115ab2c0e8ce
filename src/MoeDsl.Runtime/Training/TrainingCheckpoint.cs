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
/// so far (<c>metrics.jsonl</c>). A checkpoint is written into a temporary folder beside the final one, every file is
/// flushed to disk, and the folder is renamed: a folder named <c>checkpoint-N</c> is always complete, whatever moment
/// the process was killed at. The newest two are kept.</summary>
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

    /// <summary>The checkpoints folder of an output folder.</summary>
    public static string Root(string outputDirectory) => Path.Combine(outputDirectory, FolderName);

    /// <summary>The newest complete checkpoint folder, or null.</summary>
    public static string? Latest(string outputDirectory)
    {
        string root = Root(outputDirectory);
        if (!Directory.Exists(root)) return null;
        return Directory.EnumerateDirectories(root, Prefix + "*")
            .Select(d => (Dir: d, Step: StepOf(d)))
            .Where(x => x.Step >= 0)
            .OrderByDescending(x => x.Step)
            .Select(x => x.Dir)
            .FirstOrDefault();
    }

    private static int StepOf(string dir)
    {
        string name = Path.GetFileName(dir);
        return name.StartsWith(Prefix, StringComparison.Ordinal) && int.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : -1;
    }

    /// <summary>Writes a checkpoint and returns its folder.</summary>
    public static string Save(string outputDirectory, MoeCausalLM model, Trainer trainer, CheckpointState state, IReadOnlyList<string> metricLines, string baseModelNameOrPath)
    {
        string root = Root(outputDirectory);
        Directory.CreateDirectory(root);
        string final = Path.Combine(root, Prefix + state.Step.ToString("D8", CultureInfo.InvariantCulture));
        string temp = Path.Combine(root, "." + Prefix + state.Step.ToString("D8", CultureInfo.InvariantCulture) + ".tmp-" + Environment.ProcessId);
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        int delay = int.TryParse(Environment.GetEnvironmentVariable(SaveDelayVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int d) ? d : 0;

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
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(temp, final);

        foreach (string old in Directory.EnumerateDirectories(root, Prefix + "*").Where(x => StepOf(x) >= 0).OrderByDescending(StepOf).Skip(Keep))
            Directory.Delete(old, recursive: true);
        return final;
    }

    /// <summary>Deletes folders left by saves that were interrupted (they never became checkpoints).</summary>
    public static int RemoveIncomplete(string outputDirectory)
    {
        string root = Root(outputDirectory);
        if (!Directory.Exists(root)) return 0;
        int n = 0;
        foreach (string dir in Directory.EnumerateDirectories(root, "." + Prefix + "*"))
        {
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
        AdapterStore.Load(model, checkpointDirectory);
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
}
