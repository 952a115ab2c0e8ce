using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Samples.Comparison;

/// <summary>The comparison on real multiple-choice task files: every fifth example of each file (by position) is held
/// out, the rest are mixed for multi-task training, and each task is scored on its held-out items by label-token accuracy
/// (the option letters' next-token logits). No held-out loss is measured.</summary>
public sealed class FileComparisonTasks : ComparisonTasks
{
    private readonly List<(string Task, IReadOnlyList<MultipleChoiceItem> HeldOut)> heldOut;
    private readonly List<TokenSequence> train;

    private FileComparisonTasks(List<(string, IReadOnlyList<TokenSequence>, IReadOnlyList<MultipleChoiceItem>)> tasks, long padId)
    {
        heldOut = tasks.Select(t => (t.Item1, t.Item3)).ToList();
        train = tasks.SelectMany(t => t.Item2).ToList();
        TrainCounts = tasks.ToDictionary(t => t.Item1, t => t.Item2.Count);
        Names = tasks.Select(t => t.Item1).ToArray();
        PadId = padId;
    }

    /// <summary>Reads and tokenises <paramref name="files"/> (one multiple-choice <paramref name="tasks"/> layout per file)
    /// with the tokenizer of <paramref name="modelDirectory"/>; a task is named after its file. Errors name the option, the
    /// file and the line.</summary>
    public static FileComparisonTasks Load(string modelDirectory, IReadOnlyList<string> files, IReadOnlyList<string> tasks, int maxTokens)
    {
        if (files.Count != tasks.Count)
            throw new ArgumentException($"--data names {files.Count} file(s) but --task names {tasks.Count}; give one task per file, in the same order");
        ITokenizer tokenizer = Tokenizers.Load(modelDirectory)
            ?? throw new ArgumentException($"--model {modelDirectory} has no tokenizer.json or char_tokenizer.json; the main job needs one to read --data");
        var result = new List<(string, IReadOnlyList<TokenSequence>, IReadOnlyList<MultipleChoiceItem>)>();
        for (int i = 0; i < files.Count; i++)
        {
            if (!File.Exists(files[i])) throw new ArgumentException($"--data file '{files[i]}' does not exist");
            DataLayout layout = DataLayouts.Parse(tasks[i]);
            if (!DataLayouts.IsMultipleChoice(layout))
                throw new ArgumentException($"--task {tasks[i]} is not a multiple-choice layout; the comparison scores multiple-choice accuracy");
            DataFile all = JsonlReader.Read(files[i], layout);
            var trainSplit = all with { Examples = all.Examples.Where((_, j) => j % 5 != 4).ToList() };
            var heldOutSplit = all with { Examples = all.Examples.Where((_, j) => j % 5 == 4).ToList() };
            if (heldOutSplit.Examples.Count == 0) throw new ArgumentException($"--data {files[i]}: at least 5 examples are needed to hold one out");
            var options = new SequenceOptions { MaxTokens = maxTokens };
            string task = Path.GetFileNameWithoutExtension(files[i]);
            var sequences = SequenceBuilder.BuildTraining(trainSplit, tokenizer, options, task).Sequences.Select(s => new TokenSequence(s.InputIds, s.Labels)).ToList();
            result.Add((task, sequences, SequenceBuilder.BuildEvaluation(heldOutSplit, tokenizer, options, task)));
        }
        return new FileComparisonTasks(result, tokenizer.PadId ?? 0);
    }

    /// <summary>Training sequences per task.</summary>
    public IReadOnlyDictionary<string, int> TrainCounts { get; }
    /// <summary>Held-out items per task.</summary>
    public int HeldOutCount(string task) => heldOut.First(t => t.Task == task).HeldOut.Count;

    /// <inheritdoc />
    public override IReadOnlyList<string> Names { get; }
    /// <inheritdoc />
    public override IReadOnlyList<TokenSequence> Train => train;
    /// <inheritdoc />
    public override long PadId { get; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, double> Accuracy(MoeCausalLM model)
        => heldOut.ToDictionary(t => t.Task, t => MultipleChoiceScorer.Evaluate(model, t.Task, t.HeldOut).LabelAccuracy);

    /// <inheritdoc />
    public override double HeldOutLoss(MoeCausalLM model) => double.NaN;
}
