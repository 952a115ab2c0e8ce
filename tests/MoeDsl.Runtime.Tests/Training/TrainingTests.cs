using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Runtime.Tests.Training;

[Collection(nameof(SerialTests))]
public sealed class TrainingTests
{
    private readonly ITestOutputHelper output;
    public TrainingTests(ITestOutputHelper output) => this.output = output;

    /// <summary>A learnable id-level task: a random 6-token key, a separator, then the key again (copy).</summary>
    private static List<TokenSequence> CopyTask(int count, int seed)
    {
        var rng = new Random(seed);
        var result = new List<TokenSequence>();
        for (int i = 0; i < count; i++)
        {
            long[] key = Enumerable.Range(0, 6).Select(_ => (long)rng.Next(300, 500)).ToArray();
            long[] ids = new long[] { 1 }.Concat(key).Append(13L).Concat(key).Append(2L).ToArray();
            long[] labels = ids.Select((id, j) => j <= 7 ? LanguageModelLoss.IgnoreIndex : id).ToArray();
            result.Add(new TokenSequence(ids, labels));
        }
        return result;
    }

    public static IEnumerable<object[]> Models() => new[] { new object[] { "mixlora" }, new object[] { "mola" }, new object[] { "gmoe" }, new object[] { "lora" } };

    private static MoeCausalLM Build(string name) => name switch
    {
        "mixlora" => TestModels.Build(d => StoriesMixLora.FromPretrained(d), StoriesMixLora.Create),
        "mola" => TestModels.Build(d => StoriesMola.FromPretrained(d), StoriesMola.Create),
        "gmoe" => TestModels.Build(d => StoriesGmoe.FromPretrained(d), StoriesGmoe.Create),
        _ => TestModels.Build(d => StoriesLora.FromPretrained(d), StoriesLora.Create),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void TrainingLowersHeldOutLossAndLeavesTheFrozenBaseBitIdentical(string name)
    {
        random.manual_seed(7);
        using MoeCausalLM model = Build(name);
        var frozenBefore = model.BaseParameters().ToDictionary(p => p.Name, p => p.Parameter.cpu().bytes.ToArray());
        var train = CopyTask(512, 1);
        var heldOut = CopyTask(64, 2);
        double before = Trainer.EvaluateLoss(model, new[] { TokenBatch.From(heldOut, 0) });

        var source = new SequencePoolBatches(train, 32, 0, seed: 3);
        var losses = new List<double>();
        // GMoE's balance losses (the Normal term at the reference's coefficient 8) slow the copy task down: after 200 steps
        // its held-out loss depends on the adapters' initial draw (5.2 or 6.3 for two draws against a bound of 5.75), so it
        // gets 300 steps; the other methods are at 2.2-5.1 after 200.
        int steps = name == "gmoe" ? 300 : 200;
        using (var trainer = new Trainer(model, new TrainerOptions { Steps = steps, LearningRate = 1e-2, WarmupSteps = 10 }))
        {
            for (int step = 1; step <= steps; step++)
            {
                StepReport r = trainer.Step(step, source);
                Assert.False(r.Skipped);
                losses.Add(r.LmLoss);
                if (model.Spec.LoadBalance is not null || model.Spec.RouterKind == RouterKind.Graph) Assert.NotEmpty(r.AuxLosses);
                else Assert.Empty(r.AuxLosses);
            }
            var baseHandles = model.BaseParameters().Select(p => p.Parameter.Handle).ToHashSet();
            Assert.DoesNotContain(trainer.TrainedParameters, p => baseHandles.Contains(p.Handle));
            Assert.Equal(model.CountAdapterParameters(), trainer.TrainedParameters.Sum(p => p.numel()));
        }
        double after = Trainer.EvaluateLoss(model, new[] { TokenBatch.From(heldOut, 0) });
        output.WriteLine($"{name}: held-out loss {before:F3} -> {after:F3}; train loss first 10 mean {losses.Take(10).Average():F3}, last 10 mean {losses.TakeLast(10).Average():F3}");
        Assert.True(after < 0.5 * before, $"held-out loss only went from {before:F3} to {after:F3}");

        foreach (var (pname, p) in model.BaseParameters())
        {
            Assert.False(p.requires_grad, pname);
            Assert.True(p.grad is null, $"{pname} received a gradient");
            Assert.Equal(frozenBefore[pname], p.cpu().bytes.ToArray());
        }
    }
}
