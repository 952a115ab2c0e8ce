using System.Collections.Generic;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Samples.Comparison;

/// <summary>What a comparison trains on and how it scores: the tasks' mixed training sequences, and per task a held-out
/// accuracy. <see cref="EmbeddedComparisonTasks"/> generates them; <see cref="FileComparisonTasks"/> reads JSONL files.</summary>
public abstract class ComparisonTasks
{
    /// <summary>Task names, in the order results list them.</summary>
    public abstract IReadOnlyList<string> Names { get; }
    /// <summary>Training sequences of all tasks, mixed.</summary>
    public abstract IReadOnlyList<TokenSequence> Train { get; }
    /// <summary>Padding id of the batches.</summary>
    public abstract long PadId { get; }
    /// <summary>Held-out accuracy per task (0..1).</summary>
    public abstract IReadOnlyDictionary<string, double> Accuracy(MoeCausalLM model);
    /// <summary>Mean next-token loss over held-out sequences, or NaN when the tasks have none (nothing is run then).</summary>
    public abstract double HeldOutLoss(MoeCausalLM model);
}
