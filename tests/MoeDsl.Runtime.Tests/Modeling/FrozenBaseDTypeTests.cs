using System;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Tests.Families;
using MoeDsl.Runtime.Training;
using MoeDsl.Tests;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Modeling;

/// <summary>The frozen base in bf16 on the CPU (docs/precision.md): loaded straight into bf16, every tensor the file's value
/// rounded by torch's own fp32 -> bf16 conversion; adapters, routers and losses fp32; training leaves the bf16 base
/// bit-identical and lowers the loss; adapters move between bf16 and fp32 bases; the logits' drift against fp32 stays within
/// the documented bound. And the lean loader: a model built for a checkpoint (no random init) equals one built randomly and
/// then overwritten.</summary>
[Collection(nameof(SerialTests))]
public sealed class FrozenBaseDTypeTests(ITestOutputHelper output)
{
    /// <summary>The documented bound (docs/precision.md) on max |bf16 logit - fp32 logit| / max |fp32 logit|.</summary>
    private const double MaxRelativeDrift = 0.05;

    private static readonly long[] Prompt = Enumerable.Range(0, 24).Select(i => (long)(1 + i * 37 % 250)).ToArray();

    private static Tensor Logits(MoeCausalLM model)
    {
        using var _ = no_grad();
        model.eval();
        return model.Forward(tensor(Prompt, dtype: ScalarType.Int64).unsqueeze(0)).Logits.to(ScalarType.Float32);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("gemma2")]
    [InlineData("phi3")]
    public void A_bf16_base_is_the_fp32_base_rounded_by_torch(string modelType)
    {
        using var checkpoint = new FamilyCheckpoint(modelType);
        using var fp32 = PlainCausalLM.FromPretrained(checkpoint.Directory);
        using var bf16 = PlainCausalLM.FromPretrained(checkpoint.Directory, baseDType: ScalarType.BFloat16);
        var reference = fp32.BaseParameters().ToDictionary(p => p.Name, p => p.Parameter);
        Assert.Equal(reference.Keys.OrderBy(k => k, StringComparer.Ordinal), bf16.BaseParameters().Select(p => p.Name).OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, p) in bf16.BaseParameters())
        {
            Assert.Equal(ScalarType.Float32, reference[name].dtype);
            Assert.Equal(ScalarType.BFloat16, p.dtype);
            Assert.False(p.requires_grad, $"{name} is trainable");
            using Tensor expected = reference[name].to(ScalarType.BFloat16);
            Assert.True(expected.bytes.SequenceEqual(p.bytes), $"{modelType} {name}: the bf16 load differs from torch's rounding of the fp32 load");
        }
    }

    [Fact]
    public void A_bf16_file_loads_into_fp32_exactly_and_into_bf16_bit_for_bit()
    {
        using var folder = new IO.TempFolder();
        var config = MoeDsl.Checkpoints.FamilyShapes.Tiny(Runtime.BaseModel.ModelFamily.Qwen2);
        MoeDsl.Checkpoints.CheckpointWriter.Write(config, folder.Path, dtype: ScalarType.BFloat16);
        using var file = Runtime.IO.Checkpoint.Open(folder.Path);
        foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var model = PlainCausalLM.FromPretrained(folder.Path, baseDType: dtype);
            foreach (var (name, p) in model.BaseParameters())
            {
                if (!file.Contains(name)) continue; // a tied head
                using Tensor stored = file.Read(name);
                Assert.Equal(ScalarType.BFloat16, stored.dtype);
                using Tensor expected = stored.to(dtype); // bf16 -> fp32 is exact
                Assert.True(expected.bytes.SequenceEqual(p.bytes), $"{name} ({dtype}) is not the file's value");
            }
        }
    }

    [Fact]
    public void A_model_built_for_a_checkpoint_equals_a_random_one_overwritten_by_it()
    {
        using var checkpoint = new FamilyCheckpoint("llama");
        using var lean = SpecModel.FromPretrained(checkpoint.Directory, StoriesMixLora.Spec);
        random.manual_seed(3);
        using var randomBase = SpecModel.Create(checkpoint.Config, StoriesMixLora.Spec);
        randomBase.LoadBase(checkpoint.Directory);
        // The same adapters in both, so that the logits compare the bases alone.
        var adapters = randomBase.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter);
        using (no_grad())
            foreach (var (name, p) in lean.AdapterParameters()) p.copy_(adapters[name]);
        foreach (var ((name, a), (_, b)) in lean.BaseParameters().Zip(randomBase.BaseParameters()))
            Assert.True(a.bytes.SequenceEqual(b.bytes), $"{name} differs");
        using Tensor x = Logits(lean), y = Logits(randomBase);
        Assert.True(x.bytes.SequenceEqual(y.bytes), "the logits differ");
    }

    [SkippableFact]
    public void The_logits_drift_of_a_bf16_base_is_within_the_documented_bound()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent");
        using var family = new FamilyCheckpoint("llama", forTraining: true);
        foreach (string dir in new[] { TestPaths.Stories260K, family.Directory })
        {
            using var fp32 = PlainCausalLM.FromPretrained(dir);
            using var bf16 = PlainCausalLM.FromPretrained(dir, baseDType: ScalarType.BFloat16);
            using Tensor a = Logits(fp32), b = Logits(bf16);
            using Tensor diff = (b - a).abs();
            double relative = diff.max().item<float>() / a.abs().max().item<float>();
            double meanAbs = diff.mean().item<float>();
            using Tensor argmaxA = a.argmax(-1), argmaxB = b.argmax(-1);
            double agree = argmaxA.eq(argmaxB).to(ScalarType.Float32).mean().item<float>();
            output.WriteLine($"{(dir == family.Directory ? "tiny llama" : "stories260K")}: max |d| / max |fp32| = {relative:E2}, mean |d| = {meanAbs:E2}, argmax agreement {agree:P0}");
            Assert.True(relative > 0, "bf16 changed nothing: the forward did not use the bf16 weights");
            Assert.True(relative < MaxRelativeDrift, $"relative drift {relative:E2} exceeds {MaxRelativeDrift}");
        }
    }

    public static TheoryData<string, bool> TrainingCases() => new()
    {
        { "mixlora", true }, { "lora", true }, { "mixlora", false },
    };

    [Theory]
    [MemberData(nameof(TrainingCases))]
    public void Training_on_a_bf16_base_keeps_it_bit_identical_and_its_adapter_moves_between_dtypes(string method, bool bf16Training)
    {
        ModelSpec spec = method == "lora" ? StoriesLora.Spec with { Targets = MoeDsl.LoraTargets.All } : StoriesMixLora.Spec;
        ScalarType trained = bf16Training ? ScalarType.BFloat16 : ScalarType.Float32;
        ScalarType other = bf16Training ? ScalarType.Float32 : ScalarType.BFloat16;
        using var checkpoint = new FamilyCheckpoint("llama", forTraining: true);
        using var adapterFolder = new IO.TempFolder();
        random.manual_seed(5);
        using var model = SpecModel.FromPretrained(checkpoint.Directory, spec, baseDType: trained);
        Assert.All(model.BaseParameters(), p => Assert.Equal(trained, p.Parameter.dtype));
        Assert.All(model.AdapterParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        var frozenBefore = model.BaseParameters().ToDictionary(p => p.Name, p => p.Parameter.bytes.ToArray());
        var train = FamilyTrainingTests.CopyTask(16, 1);
        double before = Trainer.EvaluateLoss(model, new[] { TokenBatch.From(train, 0) });
        var source = new SequencePoolBatches(train, 16, 0, seed: 3);
        using (var trainer = new Trainer(model, new TrainerOptions { Steps = 30, LearningRate = 1e-2, WarmupSteps = 3 }))
            for (int step = 1; step <= 30; step++) Assert.False(trainer.Step(step, source).Skipped);
        double after = Trainer.EvaluateLoss(model, new[] { TokenBatch.From(train, 0) });
        output.WriteLine($"{method} on a {trained} base: training-set loss {before:F3} -> {after:F3}");
        Assert.True(after < 0.7 * before, $"loss only went from {before:F3} to {after:F3}");
        foreach (var (name, p) in model.BaseParameters())
        {
            Assert.Equal(trained, p.dtype);
            Assert.True(frozenBefore[name].AsSpan().SequenceEqual(p.bytes), $"{name} changed");
        }
        Assert.All(model.AdapterParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));

        model.SaveAdapter(adapterFolder.Path);
        using var moved = SpecModel.FromPretrained(checkpoint.Directory, spec, baseDType: other);
        AdapterStore.Load(moved, adapterFolder.Path);
        var trainedAdapters = model.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in moved.AdapterParameters())
            Assert.True(trainedAdapters[name].bytes.SequenceEqual(p.bytes), $"{name} did not load bit for bit into the {other} base");
        Assert.All(moved.BaseParameters(), p => Assert.Equal(other, p.Parameter.dtype));
        // The trained adapter does its job on the other base too. (Its logits are not compared by a relative bound: after
        // fitting to a loss near 0.1 they are sharp, and a MixLoRA token whose top-2 choice flips under the base's rounding
        // moves by far more than the untrained drift.)
        double movedLoss = Trainer.EvaluateLoss(moved, new[] { TokenBatch.From(train, 0) });
        output.WriteLine($"{method}: the adapter trained on the {trained} base: loss {after:F3} there, {movedLoss:F3} on the {other} base (untrained {before:F3})");
        Assert.True(movedLoss < 0.7 * before, $"the trained adapter on the {other} base has loss {movedLoss:F3} (untrained {before:F3})");
    }

    [Theory]
    [InlineData("fp32", ScalarType.Float32)]
    [InlineData("BF16", ScalarType.BFloat16)]
    [InlineData("bfloat16", ScalarType.BFloat16)]
    public void Base_dtypes_parse(string text, ScalarType expected) => Assert.Equal(expected, FrozenBase.ParseDType(text, "--base-dtype"));

    [Fact]
    public void Other_base_dtypes_are_refused_naming_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => FrozenBase.ParseDType("fp16", "--base-dtype"));
        Assert.Contains("--base-dtype 'fp16'", e.Message, StringComparison.Ordinal);
        Assert.Contains("fp32 or bf16", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => FrozenBase.Check(ScalarType.Float16));
    }
}
