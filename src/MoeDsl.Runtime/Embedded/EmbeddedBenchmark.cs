using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Runtime.Embedded;

/// <summary>Settings of one fine-tuning run on the embedded tasks.</summary>
public sealed record EmbeddedRunOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 300;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 5e-3;
    /// <summary>Training examples per task.</summary>
    public int TrainPerTask { get; init; } = 600;
    /// <summary>Held-out examples per task.</summary>
    public int TestPerTask { get; init; } = 100;
    /// <summary>Seed (data order, initialisation, dropout).</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Score only the answer (prompt labels masked).</summary>
    public bool MaskPrompt { get; init; } = true;
    /// <summary>Where to write the adapter (null: do not save).</summary>
    public string? AdapterDirectory { get; init; }
}

/// <summary>The result of one run.</summary>
/// <param name="Losses">Training loss of every step.</param>
/// <param name="ExpertLoad">Share of routing assignments per layer and expert over the held-out evaluation (rows sum to 1;
/// empty for plain LoRA). For EveryProjection the projections of a layer are pooled.</param>
public sealed record EmbeddedRunResult(string Method, int Seed, long TrainableParameters, double FirstLoss, double FinalLoss,
    double HeldOutLossBefore, double HeldOutLossAfter, IReadOnlyDictionary<string, double> Accuracy, double Seconds, string? AdapterDirectory,
    IReadOnlyList<double> Losses, double[][] ExpertLoad)
{
    /// <summary>Mean held-out exact match over tasks.</summary>
    public double MeanAccuracy => Accuracy.Values.Average();
}

/// <summary>Fine-tunes a declared model on the embedded multi-task benchmark and measures held-out exact match per task.</summary>
public static class EmbeddedBenchmark
{
    /// <summary>Runs one method. <paramref name="createModel"/> builds the declared model on the base folder it is given.</summary>
    public static EmbeddedRunResult Run(string method, Func<string, MoeCausalLM> createModel, string baseDirectory, EmbeddedRunOptions options, Action<StepReport>? onStep = null)
    {
        var watch = Stopwatch.StartNew();
        TorchSharp.torch.random.manual_seed(options.Seed);
        using MoeCausalLM model = createModel(baseDirectory);
        var train = new List<TokenSequence>();
        var test = new Dictionary<string, List<TokenSequence>>();
        foreach (string task in SyntheticTasks.Names)
        {
            int taskSeed = 1000 * (Array.IndexOf(SyntheticTasks.Names, task) + 1);
            train.AddRange(SyntheticTasks.Split(task, heldOut: false, options.TrainPerTask, taskSeed).Select(e => SyntheticTasks.Encode(e, options.MaskPrompt)));
            test[task] = SyntheticTasks.Split(task, heldOut: true, options.TestPerTask, taskSeed + 1).Select(e => SyntheticTasks.Encode(e, maskPrompt: true)).ToList();
        }
        var allTest = test.Values.SelectMany(x => x).ToList();
        double heldOutBefore = HeldOutLoss(model, allTest);

        var source = new SequencePoolBatches(train, options.BatchSize, EmbeddedVocabulary.Pad, options.Seed);
        var trainerOptions = new TrainerOptions { Steps = options.Steps, LearningRate = options.LearningRate, WarmupSteps = options.Steps / 10, Seed = options.Seed };
        double first = double.NaN, last = double.NaN;
        var losses = new List<double>(options.Steps);
        using (var trainer = new Trainer(model, trainerOptions))
        {
            var recent = new Queue<double>();
            for (int step = 1; step <= options.Steps; step++)
            {
                StepReport r = trainer.Step(step, source);
                if (step == 1) first = r.LmLoss;
                losses.Add(r.LmLoss);
                recent.Enqueue(r.LmLoss);
                if (recent.Count > 20) recent.Dequeue();
                onStep?.Invoke(r);
            }
            last = recent.Average();
        }

        model.ExpertLoad.Reset();
        model.ExpertLoad.Tracking = model.Spec.IsMixture;
        var accuracy = test.ToDictionary(kv => kv.Key, kv => ExactMatch.Accuracy(model, kv.Value, EmbeddedVocabulary.Pad));
        model.ExpertLoad.Tracking = false;
        double[][] load = Shares(model.ExpertLoad.Snapshot());
        double heldOutAfter = HeldOutLoss(model, allTest);
        if (options.AdapterDirectory is not null) AdapterStore.Save(model, options.AdapterDirectory, baseDirectory);
        return new EmbeddedRunResult(method, options.Seed, model.CountAdapterParameters(), first, last, heldOutBefore, heldOutAfter, accuracy,
            watch.Elapsed.TotalSeconds, options.AdapterDirectory, losses, load);
    }

    private static double[][] Shares(double[,] counts)
    {
        var rows = new double[counts.GetLength(0)][];
        for (int l = 0; l < rows.Length; l++)
        {
            rows[l] = new double[counts.GetLength(1)];
            double total = 0;
            for (int e = 0; e < rows[l].Length; e++) total += counts[l, e];
            for (int e = 0; e < rows[l].Length; e++) rows[l][e] = total > 0 ? counts[l, e] / total : 0;
        }
        return rows;
    }

    private static double HeldOutLoss(MoeCausalLM model, List<TokenSequence> sequences)
    {
        var batches = new List<TokenBatch>();
        for (int i = 0; i < sequences.Count; i += 64)
            batches.Add(TokenBatch.From(sequences.Skip(i).Take(64).ToList(), EmbeddedVocabulary.Pad, model.Model.EmbedWeight.device));
        return Trainer.EvaluateLoss(model, batches);
    }
}
