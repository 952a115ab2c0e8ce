using System;
using System.Collections.Generic;
using System.Threading;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Runtime.Api;

/// <summary>The options of <see cref="Modeling.MoeCausalLM.FineTune"/> that every declaration has: optimisation,
/// data, output (checkpoints, resume, adapter) and callbacks. Every declared class has its own
/// <c>TrainingOptions</c>, generated, that derives from this and adds the settings only that declaration has (the router
/// weight decay of a mixture, the load-balance coefficient of a declaration with <c>[LoadBalance]</c>, a Switch
/// router's z-loss, GMoE's two loss coefficients), with the declared values as defaults. Defaults here are
/// <see cref="TrainerOptions"/>' and <see cref="SequenceOptions"/>' (the command line's).</summary>
public record FineTuneOptions
{
    private static readonly TrainerOptions TrainerDefaults = new();
    private static readonly SequenceOptions SequenceDefaults = new();

    /// <summary>Optimizer steps (default 200).</summary>
    public int Steps { get; init; } = TrainerDefaults.Steps;
    /// <summary>Sequences per micro-batch (default 8).</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Peak learning rate (default 2e-4).</summary>
    public double LearningRate { get; init; } = TrainerDefaults.LearningRate;
    /// <summary>Learning-rate schedule after warm-up (default cosine).</summary>
    public ScheduleKind Schedule { get; init; } = TrainerDefaults.Schedule;
    /// <summary>Linear warm-up steps (default 0).</summary>
    public int WarmupSteps { get; init; } = TrainerDefaults.WarmupSteps;
    /// <summary>AdamW weight decay of the LoRA matrices (default 0).</summary>
    public double WeightDecay { get; init; } = TrainerDefaults.WeightDecay;
    /// <summary>AdamW betas (default 0.9, 0.999).</summary>
    public (double Beta1, double Beta2) Betas { get; init; } = TrainerDefaults.Betas;
    /// <summary>Gradient clipping by total norm, 0 = off (default 1).</summary>
    public double MaxGradNorm { get; init; } = TrainerDefaults.MaxGradNorm;
    /// <summary>Micro-batches per optimizer step (default 1).</summary>
    public int GradientAccumulation { get; init; } = TrainerDefaults.GradientAccumulation;
    /// <summary>Seed of dropout, jitter and the batch order (default 42). The adapters are initialised when the model is
    /// built: seed torch (<c>torch.random.manual_seed</c>) before <c>FromPretrained</c> to fix them too.</summary>
    public long Seed { get; init; } = TrainerDefaults.Seed;
    /// <summary>Non-finite steps in a row after which the run stops with <see cref="NonFiniteTrainingException"/> (default 10).</summary>
    public int MaxNonFiniteSteps { get; init; } = TrainerDefaults.MaxConsecutiveNonFinite;

    /// <summary>Longest sequence in tokens, BOS and EOS included; longer ones are truncated (default 512).</summary>
    public int MaxTokens { get; init; } = SequenceDefaults.MaxTokens;
    /// <summary>Learn only the completion of prompted examples (default true).</summary>
    public bool MaskPrompt { get; init; } = SequenceDefaults.MaskPrompt;
    /// <summary>Skip (and count) examples the tokenizer cannot encode instead of stopping (default false).</summary>
    public bool SkipBadExamples { get; init; } = SequenceDefaults.SkipBadLines;
    /// <summary>Sequence packing (default false): several examples per training sequence of <see cref="MaxTokens"/>
    /// tokens (<see cref="SequencePacker"/>), attention kept within each example and positions restarting, so each
    /// example's logits are those it has alone; <see cref="BatchSize"/> then counts packed rows. Held-out data is not packed.</summary>
    public bool Pack { get; init; }

    /// <summary>Output folder: <c>metrics.jsonl</c>, <c>checkpoints/</c>, <c>adapter/</c>, held with an OS lock while the
    /// run lasts. Null (the default) trains in memory: no files unless <see cref="AdapterDirectory"/> is set.</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Where the final adapter is written (default: <c>adapter/</c> in the output folder, none in memory).</summary>
    public string? AdapterDirectory { get; init; }
    /// <summary>Write a checkpoint every N steps (0: only at the end; needs <see cref="OutputDirectory"/>).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Continue from the newest complete checkpoint in <see cref="OutputDirectory"/>: N steps then a resume to 2N
    /// train exactly as 2N steps in one go. Without it, a folder that holds a checkpoint is refused.</summary>
    public bool Resume { get; init; }
    /// <summary>Allow a resume whose training settings differ from the checkpoint's (recorded in the metrics); without it
    /// such a resume throws <see cref="ResumeSettingsChangedException"/> naming each change.</summary>
    public bool AllowSettingChanges { get; init; }

    /// <summary>Held-out data: its next-token loss (prompts masked) is computed every <see cref="EvalEvery"/> steps.</summary>
    public TrainingData? EvalData { get; init; }
    /// <summary>Evaluate <see cref="EvalData"/> every N steps and after the last (0: never).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Called after every optimizer step (progress: loss, auxiliary losses, learning rate, tokens).</summary>
    public Action<StepReport>? OnStep { get; init; }
    /// <summary>Called after every evaluation with (step, held-out loss).</summary>
    public Action<int, double>? OnEvaluate { get; init; }
    /// <summary>Called after every checkpoint with (step, folder).</summary>
    public Action<int, string>? OnCheckpoint { get; init; }
    /// <summary>Stops the run before the next step; with an output folder a checkpoint of the last step is written
    /// (<see cref="RunOutcome.Interrupted"/>).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>The settings of the training loop (<see cref="TrainingRun"/>) these options give.</summary>
    public TrainerOptions ToTrainerOptions() => Specialise(new TrainerOptions
    {
        Steps = Steps,
        LearningRate = LearningRate,
        Schedule = Schedule,
        WarmupSteps = WarmupSteps,
        WeightDecay = WeightDecay,
        Betas = Betas,
        MaxGradNorm = MaxGradNorm,
        GradientAccumulation = GradientAccumulation,
        Seed = Seed,
        MaxConsecutiveNonFinite = MaxNonFiniteSteps,
    });

    /// <summary>How examples become token sequences under these options.</summary>
    public SequenceOptions ToSequenceOptions() => new() { MaxTokens = MaxTokens, MaskPrompt = MaskPrompt, SkipBadLines = SkipBadExamples };

    /// <summary>Adds what only one declaration has (router weight decay, loss coefficients) to the loop's settings; a
    /// generated <c>TrainingOptions</c> overrides it. The base adds nothing.</summary>
    protected virtual TrainerOptions Specialise(TrainerOptions options) => options;
}

/// <summary>Options of <see cref="Modeling.MoeCausalLM.Evaluate"/>.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Sequences per forward when computing the loss (default 8).</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Longest sequence in tokens; longer ones are truncated (default 512).</summary>
    public int MaxTokens { get; init; } = new SequenceOptions().MaxTokens;
}

/// <summary>What <see cref="Modeling.MoeCausalLM.Evaluate"/> measured.</summary>
/// <param name="Loss">Mean next-token loss over every learned token of the data (prompts masked), as training counts it.</param>
/// <param name="MultipleChoice">Per multiple-choice part: label-token accuracy and lm-evaluation-harness's acc / acc_norm
/// (<see cref="MultipleChoiceScorer"/>); empty when the data has none.</param>
public sealed record EvaluationResult(double Loss, IReadOnlyList<TaskAccuracy> MultipleChoice);
