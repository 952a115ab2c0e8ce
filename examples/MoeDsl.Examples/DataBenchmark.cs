using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Embedded;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Examples;

/// <summary>The comparison on a real checkpoint and real multiple-choice task files (<c>--model DIR --data F1,F2 --task
/// T1,T2</c>): every fifth example of each file (by position) is held out, the rest are mixed for multi-task training, and
/// each method is scored on the held-out items by label-token accuracy (the option letters' next-token logits).</summary>
internal static class DataBenchmark
{
    public sealed record TaskData(string Task, IReadOnlyList<TokenSequence> Train, IReadOnlyList<MultipleChoiceItem> HeldOut);

    /// <summary>Reads and tokenises the files; errors name the file and line.</summary>
    public static List<TaskData> Load(string modelDirectory, IReadOnlyList<string> files, IReadOnlyList<string> tasks, int maxTokens)
    {
        if (files.Count != tasks.Count)
            throw new ArgumentException($"--data names {files.Count} file(s) but --task names {tasks.Count}; give one task per file, in the same order");
        ITokenizer tokenizer = Tokenizers.Load(modelDirectory)
            ?? throw new ArgumentException($"--model {modelDirectory} has no tokenizer.json or char_tokenizer.json; the main job needs one to read --data");
        var result = new List<TaskData>();
        for (int i = 0; i < files.Count; i++)
        {
            if (!File.Exists(files[i])) throw new ArgumentException($"--data file '{files[i]}' does not exist");
            DataLayout layout = DataLayouts.Parse(tasks[i]);
            if (!DataLayouts.IsMultipleChoice(layout))
                throw new ArgumentException($"--task {tasks[i]} is not a multiple-choice layout; the comparison scores multiple-choice accuracy");
            DataFile all = JsonlReader.Read(files[i], layout);
            var train = all with { Examples = all.Examples.Where((_, j) => j % 5 != 4).ToList() };
            var heldOut = all with { Examples = all.Examples.Where((_, j) => j % 5 == 4).ToList() };
            if (heldOut.Examples.Count == 0) throw new ArgumentException($"--data {files[i]}: at least 5 examples are needed to hold one out");
            var options = new SequenceOptions { MaxTokens = maxTokens };
            string task = Path.GetFileNameWithoutExtension(files[i]);
            var sequences = SequenceBuilder.BuildTraining(train, tokenizer, options, task).Sequences.Select(s => new TokenSequence(s.InputIds, s.Labels)).ToList();
            result.Add(new TaskData(task, sequences, SequenceBuilder.BuildEvaluation(heldOut, tokenizer, options, task)));
        }
        return result;
    }

    /// <summary>Trains one method on the mixed training splits and scores every task's held-out items.</summary>
    public static EmbeddedRunResult Run(string method, Func<string, MoeCausalLM> create, string baseDirectory, IReadOnlyList<TaskData> data,
        EmbeddedRunOptions options, long padId)
    {
        var watch = Stopwatch.StartNew();
        TorchSharp.torch.random.manual_seed(options.Seed);
        using MoeCausalLM model = create(baseDirectory);
        var pool = data.SelectMany(d => d.Train).ToList();
        var source = new SequencePoolBatches(pool, options.BatchSize, padId, options.Seed);
        var losses = new List<double>(options.Steps);
        using (var trainer = new Trainer(model, new TrainerOptions { Steps = options.Steps, LearningRate = options.LearningRate, WarmupSteps = options.Steps / 10, Seed = options.Seed }))
            for (int step = 1; step <= options.Steps; step++) losses.Add(trainer.Step(step, source).LmLoss);
        var accuracy = data.ToDictionary(d => d.Task, d => MultipleChoiceScorer.Evaluate(model, d.Task, d.HeldOut).LabelAccuracy);
        if (options.AdapterDirectory is not null) AdapterStore.Save(model, options.AdapterDirectory, baseDirectory);
        double last = losses.TakeLast(20).Average();
        return new EmbeddedRunResult(method, options.Seed, model.CountAdapterParameters(), losses[0], last, double.NaN, double.NaN, accuracy,
            watch.Elapsed.TotalSeconds, options.AdapterDirectory, losses, Array.Empty<double[]>());
    }
}
