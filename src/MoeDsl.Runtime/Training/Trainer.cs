using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Runtime.Training;

/// <summary>Settings of a fine-tuning run.</summary>
public sealed record TrainerOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 200;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-4;
    /// <summary>Schedule kind.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    /// <summary>Warm-up steps.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>AdamW weight decay of LoRA matrices.</summary>
    public double WeightDecay { get; init; }
    /// <summary>AdamW weight decay of routers (and GMoE's lambda and sigma).</summary>
    public double RouterWeightDecay { get; init; }
    /// <summary>AdamW betas.</summary>
    public (double Beta1, double Beta2) Betas { get; init; } = (0.9, 0.999);
    /// <summary>Gradient clipping by total norm (0 = off).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Micro-batches accumulated per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Consecutive non-finite steps after which the run stops.</summary>
    public int MaxConsecutiveNonFinite { get; init; } = 10;
    /// <summary>Seed of torch's generator (dropout, jitter).</summary>
    public long Seed { get; init; } = 42;
    /// <summary>Auxiliary-loss coefficients in place of the declared ones (null: as declared); only the losses the
    /// model's declaration has (<see cref="LossCoefficients.ApplyTo"/>).</summary>
    public LossCoefficients? Losses { get; init; }

    /// <summary>Throws with a message naming the option when a value is impossible.</summary>
    public void Validate()
    {
        if (Steps < 1) throw new ArgumentException($"steps must be at least 1 (got {Steps})");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"learning rate must be a positive number (got {LearningRate})");
        if (WarmupSteps < 0) throw new ArgumentException($"warm-up steps must be >= 0 (got {WarmupSteps})");
        if (WeightDecay < 0 || RouterWeightDecay < 0) throw new ArgumentException("weight decay must be >= 0");
        if (MaxGradNorm < 0) throw new ArgumentException($"max grad norm must be >= 0 (got {MaxGradNorm})");
        if (GradientAccumulation < 1) throw new ArgumentException($"gradient accumulation must be at least 1 (got {GradientAccumulation})");
        if (MaxConsecutiveNonFinite < 1) throw new ArgumentException("the non-finite step limit must be at least 1");
    }
}

/// <summary>What one optimizer step did.</summary>
/// <param name="Step">1-based step.</param>
/// <param name="LmLoss">Mean next-token loss over the step's micro-batches.</param>
/// <param name="AuxLosses">Weighted auxiliary losses by name (means over micro-batches).</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="GradNorm">Total gradient norm before clipping.</param>
/// <param name="Tokens">Tokens processed.</param>
/// <param name="Seconds">Wall time of the step.</param>
/// <param name="Skipped">True when the step was skipped because the loss or a gradient was not finite.</param>
public sealed record StepReport(int Step, double LmLoss, IReadOnlyDictionary<string, double> AuxLosses, double LearningRate, double GradNorm, long Tokens, double Seconds, bool Skipped);

/// <summary>A source of training batches (the trainer disposes each batch).</summary>
public interface IBatchSource
{
    /// <summary>The next batch.</summary>
    TokenBatch Next();
}

/// <summary>Thrown when too many consecutive steps had a non-finite loss or gradient.</summary>
public sealed class NonFiniteTrainingException : Exception
{
    /// <summary>An exception whose message says how many steps failed and what to change.</summary>
    public NonFiniteTrainingException(string message) : base(message) { }
}

/// <summary>Trains the adapter (requires_grad) parameters of a model with AdamW: one dispose scope per step, the frozen
/// base never receives gradients or optimizer state.</summary>
public sealed class Trainer : IDisposable
{
    private readonly MoeCausalLM model;
    private readonly TrainerOptions options;
    private readonly AdamW optimizer;
    private readonly List<Parameter> trainable;
    private readonly LearningRateSchedule schedule;
    private int consecutiveNonFinite;

    /// <summary>Creates the trainer (and the optimizer over the model's trainable parameters).</summary>
    public Trainer(MoeCausalLM model, TrainerOptions options)
    {
        options.Validate();
        options.Losses?.ApplyTo(model.Spec);   // a coefficient for a loss the declaration lacks is refused here, before any step
        this.model = model;
        this.options = options;
        var named = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (named.Count == 0) throw new InvalidOperationException($"{model.Spec.Name} has no trainable parameters: declare [Lora] targets or unfreeze the base");
        trainable = named.Select(p => p.parameter).ToList();
        bool IsRouter(string n) => n.Contains(".moe_gate.", StringComparison.Ordinal);
        var groups = new List<AdamW.ParamGroup>
        {
            new(named.Where(p => !IsRouter(p.name)).Select(p => p.parameter), new AdamW.Options { weight_decay = options.WeightDecay, beta1 = options.Betas.Beta1, beta2 = options.Betas.Beta2 }),
        };
        var routerParams = named.Where(p => IsRouter(p.name)).Select(p => p.parameter).ToList();
        if (routerParams.Count > 0)
            groups.Add(new AdamW.ParamGroup(routerParams, new AdamW.Options { weight_decay = options.RouterWeightDecay, beta1 = options.Betas.Beta1, beta2 = options.Betas.Beta2 }));
        optimizer = optim.AdamW(groups, options.LearningRate, options.Betas.Beta1, options.Betas.Beta2);
        schedule = new LearningRateSchedule(options.Schedule, options.LearningRate, options.WarmupSteps, options.Steps);
        random.manual_seed(options.Seed);
        SkippedSteps = 0;
    }

    /// <summary>Steps skipped because of a non-finite loss or gradient.</summary>
    public int SkippedSteps { get; private set; }

    /// <summary>Non-finite steps in a row up to the last step (0 after a finite one).</summary>
    public int ConsecutiveNonFinite => consecutiveNonFinite;

    /// <summary>Restores the non-finite counters of a checkpoint (resume).</summary>
    public void RestoreCounters(int skippedSteps, int consecutiveNonFiniteSteps)
    {
        if (skippedSteps < 0 || consecutiveNonFiniteSteps < 0) throw new ArgumentOutOfRangeException(nameof(skippedSteps), "counters must be >= 0");
        SkippedSteps = skippedSteps;
        consecutiveNonFinite = consecutiveNonFiniteSteps;
    }

    /// <summary>Sets this trainer's weight decays and betas on the optimizer's parameter groups again. Loading an optimizer
    /// state file (resume) also loads the hyperparameters it was saved with; after this the options given to this trainer
    /// hold (identical values when the settings did not change). The learning rate is set by the schedule every step.</summary>
    public void ApplyGroupOptions()
    {
        int index = 0;
        foreach (var controller in optimizer.ParamGroups)
        {
            if (controller is ParamGroup group && group.Options is AdamW.Options o)
            {
                o.weight_decay = index == 0 ? options.WeightDecay : options.RouterWeightDecay;
                o.beta1 = options.Betas.Beta1;
                o.beta2 = options.Betas.Beta2;
            }
            index++;
        }
    }

    /// <summary>The parameters the optimizer updates (and keeps state for).</summary>
    public IReadOnlyList<Parameter> TrainedParameters => trainable;

    /// <summary>The optimizer (for checkpoints).</summary>
    public AdamW Optimizer => optimizer;

    /// <summary>Runs one optimizer step (1-based <paramref name="step"/>) over <see cref="TrainerOptions.GradientAccumulation"/> micro-batches.</summary>
    public StepReport Step(int step, IBatchSource source)
    {
        var watch = Stopwatch.StartNew();
        model.train();
        double lr = schedule.At(step);
        foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;

        using var scope = NewDisposeScope();
        double lmSum = 0;
        var auxSums = new Dictionary<string, double>(StringComparer.Ordinal);
        long tokens = 0;
        var nonFinite = new List<string>();   // what was not finite this step, named for the exception's message
        for (int micro = 0; micro < options.GradientAccumulation; micro++)
        {
            using TokenBatch batch = source.Next();
            using CausalLMOutput output = model.Forward(batch.InputIds, tokenMask: batch.Mask, losses: options.Losses, packing: batch.Packing);
            Tensor lm = LanguageModelLoss.Compute(output.Logits, batch.Labels);
            Tensor total = output.AuxLoss is null ? lm : lm + output.AuxLoss;
            (total / options.GradientAccumulation).backward();
            double lmValue = lm.item<float>();
            if (!double.IsFinite(lmValue)) nonFinite.Add($"the language-model loss ({lmValue})");
            lmSum += lmValue;
            foreach (var (name, value) in output.AuxParts)
            {
                double v = value.item<float>();
                if (!double.IsFinite(v)) nonFinite.Add($"the {name} loss ({v})");
                auxSums[name] = auxSums.GetValueOrDefault(name) + v;
            }
            tokens += batch.Tokens;
        }

        double gradNorm = nn.utils.clip_grad_norm_(trainable, options.MaxGradNorm > 0 ? options.MaxGradNorm : double.MaxValue);
        if (!double.IsFinite(gradNorm)) nonFinite.Add($"the gradient norm ({gradNorm})");
        bool finite = nonFinite.Count == 0;
        if (finite)
        {
            FusedAdamW.Step(optimizer);
            consecutiveNonFinite = 0;
        }
        else
        {
            SkippedSteps++;
            consecutiveNonFinite++;
        }
        optimizer.zero_grad();
        if (consecutiveNonFinite >= options.MaxConsecutiveNonFinite)
            throw new NonFiniteTrainingException(
                $"{consecutiveNonFinite} consecutive steps had a non-finite loss or gradient (last at step {step}: {string.Join(", ", nonFinite.Distinct())}); the adapter was not updated by them. " +
                "Lower the learning rate, check the data, or raise the limit.");

        int n = options.GradientAccumulation;
        return new StepReport(step, lmSum / n, auxSums.ToDictionary(kv => kv.Key, kv => kv.Value / n), lr, gradNorm, tokens, watch.Elapsed.TotalSeconds, !finite);
    }

    /// <summary>Mean next-token loss over batches, without gradients, in eval mode.</summary>
    public static double EvaluateLoss(MoeCausalLM model, IEnumerable<TokenBatch> batches)
    {
        bool wasTraining = model.training;
        model.eval();
        using var noGrad = no_grad();
        double weighted = 0;
        long count = 0;
        try
        {
            foreach (TokenBatch batch in batches)
            {
                using var scope = NewDisposeScope();
                using CausalLMOutput output = model.Forward(batch.InputIds, tokenMask: batch.Mask, packing: batch.Packing);
                double loss = LanguageModelLoss.Compute(output.Logits, batch.Labels).item<float>();
                weighted += loss * batch.ScoredTokens;
                count += batch.ScoredTokens;
                batch.Dispose();
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return count == 0 ? double.NaN : weighted / count;
    }

    /// <inheritdoc />
    public void Dispose() => optimizer.Dispose();
}
