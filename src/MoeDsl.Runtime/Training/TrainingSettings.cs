using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Runtime.Training;

/// <summary>A training setting that differs between a checkpoint and the run resuming it.</summary>
/// <param name="Name">The setting (as <c>moedsl train</c> names its option: <c>lr</c>, <c>warmup</c>, ...).</param>
/// <param name="Old">The checkpoint's value.</param>
/// <param name="New">This run's value.</param>
public sealed record SettingChange(string Name, string Old, string New)
{
    /// <summary><c>name old -> new</c>.</summary>
    public override string ToString() => $"{Name} {Old} -> {New}";
}

/// <summary>Thrown when a resumed run's training settings differ from those its checkpoint was written with and the
/// change was not allowed (<see cref="TrainingRunOptions.AllowSettingChanges"/>).</summary>
public sealed class ResumeSettingsChangedException : Exception
{
    /// <summary>The error for <paramref name="checkpoint"/>, naming every change.</summary>
    public ResumeSettingsChangedException(string checkpoint, IReadOnlyList<SettingChange> changes)
        : base($"{checkpoint} was written with other training settings: {string.Join(", ", changes)}; resume with the checkpoint's settings, or allow the change deliberately")
    {
        Checkpoint = checkpoint;
        Changes = changes;
    }

    /// <summary>The checkpoint folder.</summary>
    public string Checkpoint { get; }

    /// <summary>Every changed setting, in <see cref="TrainingSettings.Names"/> order.</summary>
    public IReadOnlyList<SettingChange> Changes { get; }
}

/// <summary>The settings that shape the optimisation of a run and are recorded in every checkpoint, so that a resume
/// can tell whether it continues the same run (the README promises N steps + resume to 2N equal 2N straight; that holds
/// only when these match). What identifies the data and model (method, data hash, batch, seed) is the run key instead,
/// which can never change on resume.</summary>
public static class TrainingSettings
{
    /// <summary>The recorded settings, in the order changes are named.</summary>
    public static readonly IReadOnlyList<string> Names = new[]
    {
        "lr", "schedule", "warmup", "steps", "weight-decay", "router-weight-decay", "betas", "max-grad-norm", "grad-accum",
        "load-balance", "router-z-loss", "graph-poisson", "graph-normal",
    };

    /// <summary>The settings of <paramref name="options"/> as text (numbers round-trip, invariant culture). With
    /// <paramref name="spec"/>, also the auxiliary-loss coefficients in effect for that declaration
    /// (<see cref="LossCoefficients.Effective"/>: <see cref="TrainerOptions.Losses"/> in place of the declared ones).</summary>
    public static IReadOnlyDictionary<string, string> Of(TrainerOptions options, ModelSpec? spec = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["lr"] = Number(options.LearningRate),
            ["schedule"] = options.Schedule switch { ScheduleKind.Constant => "constant", ScheduleKind.Linear => "linear", _ => "cosine" },
            ["warmup"] = options.WarmupSteps.ToString(CultureInfo.InvariantCulture),
            ["steps"] = options.Steps.ToString(CultureInfo.InvariantCulture),
            ["weight-decay"] = Number(options.WeightDecay),
            ["router-weight-decay"] = Number(options.RouterWeightDecay),
            ["betas"] = Number(options.Betas.Beta1) + "," + Number(options.Betas.Beta2),
            ["max-grad-norm"] = Number(options.MaxGradNorm),
            ["grad-accum"] = options.GradientAccumulation.ToString(CultureInfo.InvariantCulture),
        };
        if (spec is not null)
            foreach (var (name, value) in LossCoefficients.Effective(spec, options.Losses)) settings[name] = value;
        return settings;
    }

    /// <summary>Every setting that differs, in <see cref="Names"/> order. Settings absent from either side (a checkpoint
    /// of another version) are not compared. <c>steps</c> counts only when a schedule decays (linear or cosine): with a
    /// constant schedule the total changes no step's learning rate, so such a run may be extended.</summary>
    public static IReadOnlyList<SettingChange> Compare(IReadOnlyDictionary<string, string> recorded, IReadOnlyDictionary<string, string> current)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        ArgumentNullException.ThrowIfNull(current);
        bool constant = recorded.GetValueOrDefault("schedule") == "constant" && current.GetValueOrDefault("schedule") == "constant";
        return Names
            .Where(n => !(n == "steps" && constant))
            .Where(n => recorded.ContainsKey(n) && current.ContainsKey(n) && recorded[n] != current[n])
            .Select(n => new SettingChange(n, recorded[n], current[n]))
            .ToList();
    }

    /// <summary>A number as checkpoints record it (round-trip, invariant culture).</summary>
    internal static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
