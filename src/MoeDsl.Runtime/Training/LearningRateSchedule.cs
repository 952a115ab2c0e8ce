using System;

namespace MoeDsl.Runtime.Training;

/// <summary>Shape of the learning rate over training.</summary>
public enum ScheduleKind
{
    /// <summary>Constant after warm-up.</summary>
    Constant,
    /// <summary>Linear warm-up, then linear decay to 0.</summary>
    Linear,
    /// <summary>Linear warm-up, then cosine decay to 0.</summary>
    Cosine,
}

/// <summary>Learning rate at a step (1-based): linear warm-up over <c>warmup</c> steps, then the kind's decay.</summary>
public sealed record LearningRateSchedule(ScheduleKind Kind, double PeakLearningRate, int WarmupSteps, int TotalSteps)
{
    /// <summary>Learning rate of step <paramref name="step"/> (1-based).</summary>
    public double At(int step)
    {
        if (WarmupSteps > 0 && step <= WarmupSteps) return PeakLearningRate * step / WarmupSteps;
        if (Kind == ScheduleKind.Constant) return PeakLearningRate;
        double progress = TotalSteps <= WarmupSteps ? 1.0 : Math.Clamp((double)(step - WarmupSteps) / (TotalSteps - WarmupSteps), 0.0, 1.0);
        return Kind == ScheduleKind.Linear
            ? PeakLearningRate * (1.0 - progress)
            : PeakLearningRate * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
