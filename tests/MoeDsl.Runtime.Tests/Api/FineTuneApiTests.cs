using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Api;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using MoeDsl.Tests;
using MyProject;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Api;

/// <summary>The one-call API on a declared class: the generated options reach the losses, resume through the API is
/// exact and guarded, evaluation and generation agree with naive references, data needs a tokenizer only for text.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator
public sealed class FineTuneApiTests
{
    private static TrainingData Tokens(int count = 16, int length = 12)
    {
        var rng = new Random(5);
        return TrainingData.FromSequences(Enumerable.Range(0, count).Select(_ => TokenSequence.Plain(
            Enumerable.Range(0, length).Select(_ => (long)rng.Next(3, 500)).ToArray())));
    }

    // The first step's report of a fresh model (same seed, same adapters, same batch): its losses before any update.
    private static StepReport FirstStep<TModel, TOptions>(Func<LlamaConfig, TModel> create, Func<TModel, TrainingData, TOptions, TrainingRunResult> fineTune, TOptions options)
        where TModel : MoeCausalLM
    {
        random.manual_seed(11);
        using TModel model = create(TestModels.StoriesShape);
        return Assert.Single(fineTune(model, Tokens(), options).Steps);
    }

    [Fact]
    public void A_packed_fine_tune_step_has_the_loss_of_the_same_examples_unpacked()
    {
        // 16 examples of 12 tokens: packed into 4 rows of 48, a batch of 4 rows holds them all, as an unpacked batch of 16.
        StepReport packed = FirstStep(StoriesLora.Create, (m, d, o) => m.FineTune(d, o), new StoriesLora.TrainingOptions { Steps = 1, BatchSize = 4, MaxTokens = 48, Pack = true });
        StepReport unpacked = FirstStep(StoriesLora.Create, (m, d, o) => m.FineTune(d, o), new StoriesLora.TrainingOptions { Steps = 1, BatchSize = 16, MaxTokens = 48 });
        Assert.Equal(4 * 48, packed.Tokens);
        Assert.Equal(16 * 12, unpacked.Tokens);
        Assert.Equal(unpacked.LmLoss, packed.LmLoss, 5);
        Assert.Equal(unpacked.GradNorm, packed.GradNorm, 5);
    }

    [Fact]
    public void TheLoadBalanceCoefficientOfTheGeneratedOptionsScalesTheLoadBalanceLoss()
    {
        StepReport declared = FirstStep(StoriesMixLora.Create, (m, d, o) => m.FineTune(d, o), new StoriesMixLora.TrainingOptions { Steps = 1, BatchSize = 4 });
        StepReport four = FirstStep(StoriesMixLora.Create, (m, d, o) => m.FineTune(d, o), new StoriesMixLora.TrainingOptions { Steps = 1, BatchSize = 4, LoadBalance = 0.004 });
        StepReport off = FirstStep(StoriesMixLora.Create, (m, d, o) => m.FineTune(d, o), new StoriesMixLora.TrainingOptions { Steps = 1, BatchSize = 4, LoadBalance = 0 });
        Assert.Equal(0.001, new StoriesMixLora.TrainingOptions().LoadBalance);   // the declared [LoadBalance(0.001)]
        Assert.True(declared.AuxLosses["load_balance"] > 0);
        Assert.Equal(4.0, four.AuxLosses["load_balance"] / declared.AuxLosses["load_balance"], 5);
        Assert.Equal(0.0, off.AuxLosses["load_balance"]);
        Assert.Equal(declared.LmLoss, four.LmLoss);   // the LM loss of the same forward is untouched
    }

    [Fact]
    public void GmoeAndSwitchCoefficientsOfTheGeneratedOptionsScaleOrTurnOffTheirLosses()
    {
        StepReport gmoe = FirstStep(StoriesGmoe.Create, (m, d, o) => m.FineTune(d, o), new StoriesGmoe.TrainingOptions { Steps = 1, BatchSize = 4 });
        StepReport changed = FirstStep(StoriesGmoe.Create, (m, d, o) => m.FineTune(d, o), new StoriesGmoe.TrainingOptions { Steps = 1, BatchSize = 4, GraphPoisson = 0, GraphNormal = 16 });
        Assert.Equal(new[] { "graph_normal", "graph_poisson" }, gmoe.AuxLosses.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(new[] { "graph_normal" }, changed.AuxLosses.Keys.ToArray());   // 0 turns the Poisson loss off
        Assert.Equal(2.0, changed.AuxLosses["graph_normal"] / gmoe.AuxLosses["graph_normal"], 5);   // declared Normal 8 -> 16

        StepReport sw = FirstStep(StoriesSwitch.Create, (m, d, o) => m.FineTune(d, o), new StoriesSwitch.TrainingOptions { Steps = 1, BatchSize = 4 });
        StepReport sw3 = FirstStep(StoriesSwitch.Create, (m, d, o) => m.FineTune(d, o), new StoriesSwitch.TrainingOptions { Steps = 1, BatchSize = 4, RouterZLoss = 0.003 });
        Assert.Equal(3.0, sw3.AuxLosses["router_z"] / sw.AuxLosses["router_z"], 5);   // declared z-loss 0.001
    }

    [Fact]
    public void ACoefficientForALossTheDeclarationLacksIsRefusedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => new LossCoefficients { RouterZLoss = 1 }.ApplyTo(StoriesMixLora.Spec));
        Assert.StartsWith("RouterZLoss: StoriesMixLora has no Switch router", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new LossCoefficients { LoadBalance = 0.1 }.ApplyTo(StoriesMola.Spec));
        Assert.StartsWith("LoadBalance: StoriesMola declares no [LoadBalance]", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new LossCoefficients { LoadBalance = -1 }.ApplyTo(StoriesMixLora.Spec));
        Assert.StartsWith("LoadBalance must be a finite number >= 0 (got -1)", e.Message, StringComparison.Ordinal);
        using var model = StoriesLora.Create(TestModels.StoriesShape);
        Assert.Throws<ArgumentException>(() => new Trainer(model, new TrainerOptions { Losses = new LossCoefficients { GraphNormal = 1 } }));
    }

    private static TrainingRunResult Tiny(string output, int steps, bool resume, double loadBalance = 0.01, int stopAfter = int.MaxValue)
    {
        random.manual_seed(1);
        using var model = MyMixLora.FromPretrained(TinyBase.Directory);
        using var stop = new CancellationTokenSource();
        int done = 0;
        return model.FineTune(TrainingData.FromTexts(Enumerable.Range(0, 24).Select(i => $"count {i} {i + 1} {i + 2}.")), new MyMixLora.TrainingOptions
        {
            Steps = steps, BatchSize = 4, LearningRate = 1e-2, Seed = 3, LoadBalance = loadBalance, OutputDirectory = output, SaveEvery = 3, Resume = resume,
            Cancellation = stop.Token,
            OnStep = _ => { if (++done >= stopAfter) stop.Cancel(); },
        });
    }

    [Fact]
    public void AnInterruptedRunResumedThroughTheApiEqualsTheStraightRunAndItsGuardsHold()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-api-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            string straight = Path.Combine(root, "straight"), split = Path.Combine(root, "split");
            Assert.Equal(RunOutcome.Completed, Tiny(straight, 6, resume: false).Outcome);
            TrainingRunResult first = Tiny(split, 6, resume: false, stopAfter: 4);
            Assert.Equal((RunOutcome.Interrupted, 4), (first.Outcome, first.LastStep));

            // A changed generated setting is a changed training setting: refused naming it.
            var refused = Assert.Throws<ResumeSettingsChangedException>(() => Tiny(split, 6, resume: true, loadBalance: 0.05));
            Assert.Equal(new[] { new SettingChange("load-balance", "0.01", "0.05") }, refused.Changes);
            // A fresh run into a folder that holds a checkpoint is refused naming it.
            var fresh = Assert.Throws<InvalidOperationException>(() => Tiny(split, 6, resume: false));
            Assert.True(fresh.Message.EndsWith("already holds a checkpoint (checkpoint-00000004); resume that run, or choose another output folder", StringComparison.Ordinal), fresh.Message);

            TrainingRunResult resumed = Tiny(split, 6, resume: true);
            Assert.Equal((RunOutcome.Completed, 4, 6), (resumed.Outcome, resumed.ResumedFrom, resumed.LastStep));
            Assert.Equal(File.ReadAllBytes(Path.Combine(straight, TrainingRun.AdapterFolder, AdapterStore.TensorFile)),
                         File.ReadAllBytes(Path.Combine(split, TrainingRun.AdapterFolder, AdapterStore.TensorFile)));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }

    /// <summary>Evaluate's loss against a naive reference: each sequence alone, log-softmax by hand, the mean over every
    /// learned token; and one accuracy row per multiple-choice part.</summary>
    [Fact]
    public void EvaluateMatchesANaivePerSequenceLossAndScoresMultipleChoiceParts()
    {
        random.manual_seed(2);
        using var model = MyMixLora.FromPretrained(TinyBase.Directory);
        var pairs = new[] { ("1+1=", "2"), ("2+2=", "4"), ("3+4=", "7"), ("a b c", " d e") };
        var choices = TrainingData.FromExamples("larger", DataLayout.MultipleChoice, new DataExample[]
        {
            new MultipleChoiceExample(1, "which is larger?", new[] { "3", "8" }, 1),
            new MultipleChoiceExample(2, "which is larger?", new[] { "9", "4" }, 0),
        });
        var data = TrainingData.Mix(TrainingData.FromPromptCompletions(pairs), choices);
        EvaluationResult result = model.Evaluate(data, new EvaluationOptions { BatchSize = 3 });

        double sum = 0;
        long count = 0;
        foreach (TrainingSequence s in data.Tokenize(model.Tokenizer, new SequenceOptions { MaskPrompt = true }).SelectMany(t => t.Sequences))
        {
            using var _ = NewDisposeScope();
            using var noGrad = no_grad();
            float[] logits = model.Forward(tensor(s.InputIds).unsqueeze(0)).Logits.squeeze(0).to(ScalarType.Float32).data<float>().ToArray();
            int v = model.Config.VocabSize;
            for (int i = 1; i < s.InputIds.Length; i++)
            {
                if (s.Labels[i] == TrainingSequence.IgnoreIndex) continue;
                double max = Enumerable.Range(0, v).Max(j => (double)logits[(i - 1) * v + j]);
                double logZ = max + Math.Log(Enumerable.Range(0, v).Sum(j => Math.Exp(logits[(i - 1) * v + j] - max)));
                sum += logZ - logits[(i - 1) * v + s.Labels[i]];
                count++;
            }
        }
        Assert.Equal(sum / count, result.Loss, 4);
        TaskAccuracy larger = Assert.Single(result.MultipleChoice);
        Assert.Equal(("larger", 2), (larger.Task, larger.Items));
    }

    /// <summary>Generate from text against a naive greedy loop (no KV cache, the whole sequence every step, stop after EOS).</summary>
    [Fact]
    public void GenerateFromTextIsGreedyDecodingOfThePromptAfterBos()
    {
        random.manual_seed(4);
        using var model = MyMixLora.FromPretrained(TinyBase.Directory);
        ITokenizer tok = model.Tokenizer!;
        var ids = new List<long> { tok.BosId!.Value };
        ids.AddRange(tok.Encode("count 1 2").Select(i => (long)i));
        var generated = new List<long>();
        using (no_grad())
        {
            for (int step = 0; step < 64; step++)
            {
                using var _ = NewDisposeScope();
                long next = model.Forward(tensor(ids.ToArray()).unsqueeze(0)).Logits[0, -1].argmax().item<long>();
                generated.Add(next);
                ids.Add(next);
                if (next == tok.EosId) break;
            }
        }
        Assert.Equal(tok.Decode(generated.Select(i => (int)i)), model.Generate("count 1 2"));
        Assert.Equal(generated.Take(10), model.Generate(ids.Take(ids.Count - generated.Count).ToArray(), new GenerationOptions(MaxNewTokens: 10)).Take(10));
    }

    [Fact]
    public void TextWithoutATokenizerIsOneLineNamingTheFix()
    {
        using var model = StoriesLora.Create(TestModels.StoriesShape);   // built, not loaded: no folder, no tokenizer
        Assert.Null(model.Tokenizer);
        var e = Assert.Throws<InvalidOperationException>(() => model.FineTune(TrainingData.FromTexts(new[] { "hello" }), new StoriesLora.TrainingOptions { Steps = 1 }));
        Assert.Equal("the data (text) is text and the model has no tokenizer: put tokenizer.json (or char_tokenizer.json) in the model folder, "
                     + "set the model's Tokenizer, or give token sequences", e.Message);
        var g = Assert.Throws<InvalidOperationException>(() => model.Generate("hello"));
        Assert.DoesNotContain('\n', g.Message);
        // Token sequences need none: the same model trains on them.
        Assert.Equal(RunOutcome.Completed, model.FineTune(Tokens(4), new StoriesLora.TrainingOptions { Steps = 1, BatchSize = 2 }).Outcome);
    }
}
