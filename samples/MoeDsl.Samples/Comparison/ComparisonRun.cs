using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Samples.Comparison;

/// <summary>Settings of one method's fine-tuning run in the comparison.</summary>
public sealed record ComparisonOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 300;
    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate (cosine schedule, a tenth of the steps warm-up).</summary>
    public double LearningRate { get; init; } = 5e-3;
    /// <summary>Seed (data order, initialisation, dropout).</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Where to write the adapter (null: do not save).</summary>
    public string? AdapterDirectory { get; init; }
}

/// <summary>The result of one method's run.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Seed">Seed of the run.</param>
/// <param name="TrainableParameters">Adapter parameters, counted on the built model.</param>
/// <param name="FirstLoss">Training loss of the first step.</param>
/// <param name="FinalLoss">Mean training loss of the last 20 steps.</param>
/// <param name="HeldOutLossBefore">Held-out loss before training (NaN when the tasks have no held-out sequences).</param>
/// <param name="HeldOutLossAfter">Held-out loss after training (NaN likewise).</param>
/// <param name="Accuracy">Held-out accuracy per task.</param>
/// <param name="Seconds">Wall time of the run, model building and scoring included.</param>
/// <param name="AdapterDirectory">Where the adapter was written, or null.</param>
/// <param name="Losses">Training loss of every step.</param>
/// <param name="ExpertLoad">Share of routing assignments per layer and expert while scoring (rows sum to 1; empty for
/// plain LoRA). For EveryProjection the projections of a layer are pooled.</param>
public sealed record ComparisonResult(string Method, int Seed, long TrainableParameters, double FirstLoss, double FinalLoss,
    double HeldOutLossBefore, double HeldOutLossAfter, IReadOnlyDictionary<string, double> Accuracy, double Seconds, string? AdapterDirectory,
    IReadOnlyList<double> Losses, double[][] ExpertLoad)
{
    /// <summary>Mean held-out accuracy over tasks.</summary>
    public double MeanAccuracy => Accuracy.Values.Average();
}

/// <summary>The comparison harness: fine-tunes one declared method on a task set's mixed training sequences with
/// <see cref="TrainingRun"/> (in memory) and scores it on the held-out split of every task.</summary>
public static class ComparisonRun
{
    /// <summary>Runs one method. <paramref name="createModel"/> builds the declared model on the base folder it is given;
    /// <paramref name="onStep"/> sees every step's report.</summary>
    public static ComparisonResult Run(string method, Func<string, MoeCausalLM> createModel, string baseDirectory, ComparisonTasks tasks,
        ComparisonOptions options, Action<StepReport>? onStep = null)
    {
        var watch = Stopwatch.StartNew();
        TorchSharp.torch.random.manual_seed(options.Seed);
        using MoeCausalLM model = createModel(baseDirectory);
        double heldOutBefore = tasks.HeldOutLoss(model);

        var source = new SequencePoolBatches(tasks.Train, options.BatchSize, tasks.PadId, options.Seed);
        var trainerOptions = new TrainerOptions { Steps = options.Steps, LearningRate = options.LearningRate, WarmupSteps = options.Steps / 10, Seed = options.Seed };
        var runOptions = new TrainingRunOptions { AdapterDirectory = options.AdapterDirectory, BaseModelNameOrPath = baseDirectory };
        TrainingRunResult run = new TrainingRun(model, trainerOptions, source, runOptions) { OnStep = onStep }.Run();
        var losses = run.Steps.Select(r => r.LmLoss).ToList();

        model.ExpertLoad.Reset();
        model.ExpertLoad.Tracking = model.Spec.IsMixture;
        IReadOnlyDictionary<string, double> accuracy = tasks.Accuracy(model);
        model.ExpertLoad.Tracking = false;
        double[][] load = Shares(model.ExpertLoad.Snapshot());
        double heldOutAfter = tasks.HeldOutLoss(model);
        return new ComparisonResult(method, options.Seed, model.CountAdapterParameters(), losses[0], losses.TakeLast(20).Average(), heldOutBefore, heldOutAfter,
            accuracy, watch.Elapsed.TotalSeconds, run.AdapterDirectory, losses, load);
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
}
