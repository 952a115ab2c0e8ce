using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using MoeDsl.Samples.Embedded;

namespace MoeDsl.Samples.Comparison;

/// <summary>The embedded multi-task benchmark (<see cref="SyntheticTasks"/>) as a comparison: generated train and
/// held-out splits per task, scored by greedy exact match of the answer, plus the held-out loss.</summary>
public sealed class EmbeddedComparisonTasks : ComparisonTasks
{
    private const int EvaluationBatch = 64;
    private readonly List<TokenSequence> train = new();
    private readonly Dictionary<string, List<TokenSequence>> test = new();
    private readonly List<TokenSequence> allTest;
    private readonly string[] names;

    /// <summary>Generates <paramref name="trainPerTask"/> training and <paramref name="testPerTask"/> held-out examples
    /// per task (<paramref name="tasks"/>, default <see cref="SyntheticTasks.Names"/>) from fixed seeds; <paramref name="maskPrompt"/> scores only the answer in training (held-out sequences
    /// always mask the prompt).</summary>
    public EmbeddedComparisonTasks(int trainPerTask = SyntheticTasks.TrainPerTask, int testPerTask = SyntheticTasks.TestPerTask, bool maskPrompt = true,
                                   IReadOnlyList<string>? tasks = null)
    {
        TrainPerTask = trainPerTask;
        TestPerTask = testPerTask;
        names = (tasks ?? SyntheticTasks.Names).ToArray();
        foreach (string task in names)
        {
            train.AddRange(SyntheticTasks.Split(task, heldOut: false, trainPerTask, SyntheticTasks.SplitSeed(task, heldOut: false)).Select(e => SyntheticTasks.Encode(e, maskPrompt)));
            test[task] = SyntheticTasks.Split(task, heldOut: true, testPerTask, SyntheticTasks.SplitSeed(task, heldOut: true)).Select(e => SyntheticTasks.Encode(e, maskPrompt: true)).ToList();
        }
        allTest = test.Values.SelectMany(x => x).ToList();
    }

    /// <summary>Training examples per task.</summary>
    public int TrainPerTask { get; }
    /// <summary>Held-out examples per task.</summary>
    public int TestPerTask { get; }

    /// <inheritdoc />
    public override IReadOnlyList<string> Names => names;
    /// <inheritdoc />
    public override IReadOnlyList<TokenSequence> Train => train;
    /// <inheritdoc />
    public override long PadId => EmbeddedVocabulary.Pad;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, double> Accuracy(MoeCausalLM model)
        => test.ToDictionary(kv => kv.Key, kv => ExactMatch.Accuracy(model, kv.Value, EmbeddedVocabulary.Pad));

    /// <inheritdoc />
    public override double HeldOutLoss(MoeCausalLM model)
    {
        var batches = new List<TokenBatch>();
        for (int i = 0; i < allTest.Count; i += EvaluationBatch)
            batches.Add(TokenBatch.From(allTest.Skip(i).Take(EvaluationBatch).ToList(), EmbeddedVocabulary.Pad, model.Model.EmbedWeight.device));
        return Trainer.EvaluateLoss(model, batches);
    }
}
