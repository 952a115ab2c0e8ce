using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using MoeDsl.Runtime.Data;
using MoeDsl.Samples.Embedded;

namespace MoeDsl.Cli;

/// <summary>Model folders, tokenizers and data files named on the command line, including the embedded base and tasks
/// (<c>--model embedded</c>, <c>--data embedded</c>) so the whole CLI runs with no downloads.</summary>
internal static class Inputs
{
    public const string Embedded = "embedded";

    /// <summary>The model folder of <c>--model</c>, checked.</summary>
    public static string ModelDirectory(string value, Action<string> log)
    {
        if (value == Embedded) return EmbeddedBase.Ensure(log: log);
        if (!Directory.Exists(value)) throw new UsageException($"--model '{value}' is not a folder; pass a Hugging Face checkpoint folder (config.json + model.safetensors) or 'embedded'");
        return Path.GetFullPath(value);
    }

    /// <summary>The tokenizer of a model folder; the embedded base uses its character vocabulary.</summary>
    public static ITokenizer? Tokenizer(string modelValue, string directory)
        => modelValue == Embedded ? EmbeddedTokenizer() : Tokenizers.Load(directory);

    /// <summary>A <see cref="CharTokenizer"/> with exactly the embedded vocabulary's ids (PAD 0, BOS 1, EOS 2, characters from 3).</summary>
    public static CharTokenizer EmbeddedTokenizer() => EmbeddedVocabulary.Tokenizer();

    /// <summary>Requires a tokenizer for text data.</summary>
    public static ITokenizer RequireTokenizer(ITokenizer? tokenizer, string directory, string verb)
        => tokenizer ?? throw new UsageException($"--model {directory} has no tokenizer.json (or char_tokenizer.json); '{verb}' reads text data and needs the model's tokenizer: copy the checkpoint's tokenizer.json into the folder");

    /// <summary>The (file, layout, task) pairs of <c>--data</c> and <c>--task</c>.</summary>
    public static IReadOnlyList<DataFile> Files(string data, string? tasks, bool heldOut, JsonlReadOptions read, string dataOption = "--data")
    {
        string[] files = Split(data);
        if (files.Length == 1 && files[0] == Embedded) return EmbeddedFiles(tasks is null ? null : Split(tasks), heldOut);
        if (tasks is null) throw new UsageException($"{dataOption} needs --task naming each file's layout ({string.Join(", ", DataLayouts.TaskNames)})");
        string[] names = Split(tasks);
        if (names.Length != files.Length)
            throw new UsageException($"{dataOption} names {files.Length} file(s) but --task names {names.Length}; give one task per file, in the same order");
        var result = new List<DataFile>();
        for (int i = 0; i < files.Length; i++)
        {
            if (!File.Exists(files[i])) throw new UsageException($"{dataOption} file '{files[i]}' does not exist");
            DataLayout layout;
            try { layout = DataLayouts.Parse(names[i]); }
            catch (ArgumentException e) { throw new UsageException("--task: " + e.Message.Split(" (Parameter", 2)[0]); }
            result.Add(JsonlReader.Read(files[i], layout, read));
        }
        return result;
    }

    /// <summary>Task label of a data file (its --task name, or the embedded task).</summary>
    public static string TaskOf(DataFile file, string? tasks, int index)
        => file.File.StartsWith(Embedded + ":", StringComparison.Ordinal) ? file.File.Substring(Embedded.Length + 1) : Split(tasks!)[index];

    private static string[] Split(string s) => s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The embedded tasks as data files: copy, first and add as prompt/completion, larger as multiple choice.</summary>
    private static List<DataFile> EmbeddedFiles(string[]? tasks, bool heldOut)
    {
        string[] names = tasks ?? (heldOut ? new[] { "larger" } : SyntheticTasks.Names);
        var result = new List<DataFile>();
        foreach (string task in names)
        {
            if (!SyntheticTasks.Names.Contains(task)) throw new UsageException($"--task '{task}' is not an embedded task; embedded tasks: {string.Join(", ", SyntheticTasks.Names)}");
            var examples = SyntheticTasks.Split(task, heldOut, heldOut ? SyntheticTasks.TestPerTask : SyntheticTasks.TrainPerTask, SyntheticTasks.SplitSeed(task, heldOut));
            var list = new List<DataExample>();
            for (int i = 0; i < examples.Count; i++) list.Add(ToExample(examples[i], i + 1));
            DataLayout layout = task == "larger" ? DataLayout.MultipleChoice : DataLayout.PromptCompletion;
            result.Add(new DataFile($"{Embedded}:{task}", layout, list, 0, Array.Empty<DataFormatException>()));
        }
        return result;
    }

    private static readonly Regex LargerPattern = new(@"A\) (\d) B\) (\d)", RegexOptions.CultureInvariant);

    private static DataExample ToExample(TaskExample e, int line)
    {
        if (e.Task != "larger") return new PromptCompletionExample(line, e.Prompt, e.Answer);
        Match m = LargerPattern.Match(e.Prompt);
        return new MultipleChoiceExample(line, "which is larger?", new[] { m.Groups[1].Value, m.Groups[2].Value }, e.Answer == " A" ? 0 : 1);
    }
}
