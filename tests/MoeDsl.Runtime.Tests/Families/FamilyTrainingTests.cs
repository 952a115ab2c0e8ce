using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Families;

/// <summary>Every placement on every family's tiny checkpoint (biases, q/k norms, explicit head dims, GeGLU, sandwich
/// norms, soft caps, sliding windows, Phi-3's split fused projections): a few training steps lower the loss, the frozen
/// base stays bit-identical, the adapter saved and loaded into a fresh model gives bit-identical logits, and decoding
/// with the KV cache (a prefill, a chunk of several tokens, then single tokens, past the sliding window) equals one full
/// recomputation.</summary>
[Collection(nameof(SerialTests))]
public sealed class FamilyTrainingTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (ModelFamily f in ModelFamily.All)
            foreach (string method in new[] { "mixlora", "mola", "gmoe", "lora" })
                data.Add(f.ModelType, method);
        return data;
    }

    /// <summary>The test declarations (MoLA: one group, 3 experts top-2 on every projection, as the family bases have 3 layers).</summary>
    private static ModelSpec Spec(string method) => method switch
    {
        "mixlora" => StoriesMixLora.Spec,
        "mola" => StoriesMola.Spec with { Groups = new[] { new ExpertGroup(3, 2, 4) } },
        "gmoe" => StoriesGmoe.Spec,
        _ => StoriesLora.Spec with { Targets = MoeDsl.LoraTargets.All },
    };

    /// <summary>Copy task within the tiny vocabulary: BOS, a 5-token key, a separator, the key again.</summary>
    internal static List<TokenSequence> CopyTask(int count, int seed)
    {
        var rng = new Random(seed);
        var result = new List<TokenSequence>();
        for (int i = 0; i < count; i++)
        {
            long[] key = Enumerable.Range(0, 5).Select(_ => (long)rng.Next(30, 250)).ToArray();
            long[] ids = new long[] { 1 }.Concat(key).Append(13L).Concat(key).ToArray();
            long[] labels = ids.Select((id, j) => j <= 6 ? LanguageModelLoss.IgnoreIndex : id).ToArray();
            result.Add(new TokenSequence(ids, labels));
        }
        return result;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Trains_round_trips_and_decodes_with_the_cache(string modelType, string method)
    {
        using var checkpoint = new FamilyCheckpoint(modelType, forTraining: true);
        ModelSpec spec = Spec(method);
        random.manual_seed(5);
        using var model = SpecModel.FromPretrained(checkpoint.Directory, spec);
        var frozenBefore = model.BaseParameters().ToDictionary(p => p.Name, p => p.Parameter.bytes.ToArray());
        // 16 fixed sequences, trained on and measured on: a few steps can fit them (held-out copying needs far longer).
        var train = CopyTask(16, 1);
        double before = Trainer.EvaluateLoss(model, new[] { TokenBatch.From(train, 0) });
        var source = new SequencePoolBatches(train, 16, 0, seed: 3);
        using (var trainer = new Trainer(model, new TrainerOptions { Steps = 30, LearningRate = 1e-2, WarmupSteps = 3 }))
            for (int step = 1; step <= 30; step++) Assert.False(trainer.Step(step, source).Skipped);
        double after = Trainer.EvaluateLoss(model, new[] { TokenBatch.From(train, 0) });
        output.WriteLine($"{modelType} {method}: training-set loss {before:F3} -> {after:F3}");
        Assert.True(after < 0.7 * before, $"{modelType} {method}: training-set loss only went from {before:F3} to {after:F3}");
        foreach (var (name, p) in model.BaseParameters()) Assert.True(frozenBefore[name].AsSpan().SequenceEqual(p.bytes), $"{name} changed");

        model.eval();
        // GMoE evaluates on the graph rebuilt from the trained weights, which is what loading the adapter does.
        foreach (GraphRouter router in model.modules().OfType<GraphRouter>()) router.RebuildGraph();
        long[] ids = Enumerable.Range(0, 24).Select(i => (long)(1 + i * 37 % 250)).ToArray();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor full = model.Forward(tensor(ids, dtype: ScalarType.Int64).unsqueeze(0)).Logits.squeeze(0);
        // Decoding asks for the last position's logits only: the same row as the full forward's last.
        Tensor last = model.Forward(tensor(ids, dtype: ScalarType.Int64).unsqueeze(0), lastPositionOnly: true).Logits.squeeze(0);
        Assert.Equal(new long[] { 1, full.shape[1] }, last.shape);
        Assert.True(last.allclose(full.narrow(0, full.shape[0] - 1, 1), rtol: 1e-5, atol: 1e-5), $"{modelType} {method}: last-position logits differ from the full forward's last row");

        using (var folder = new IO.TempFolder())
        {
            AdapterStore.Save(model, folder.Path, checkpoint.Directory);
            using var reloaded = SpecModel.FromPretrained(checkpoint.Directory, spec);
            AdapterStore.Load(reloaded, folder.Path);
            reloaded.eval();
            Tensor again = reloaded.Forward(tensor(ids, dtype: ScalarType.Int64).unsqueeze(0)).Logits.squeeze(0);
            Assert.True(full.bytes.SequenceEqual(again.bytes), $"{modelType} {method}: logits after the adapter round trip differ");
        }

        // Prefill 6, a chunk of 5 after the cached prefix (the window of 8 then cuts into the cache), then one at a time.
        using var cache = new KvCache(model.Config.NumHiddenLayers);
        var pieces = new List<Tensor>();
        int at = 0;
        foreach (int length in new[] { 6, 5 }.Concat(Enumerable.Repeat(1, ids.Length - 11)))
        {
            pieces.Add(model.Forward(tensor(ids[at..(at + length)], dtype: ScalarType.Int64).unsqueeze(0), cache).Logits.squeeze(0));
            at += length;
        }
        Tensor incremental = cat(pieces, 0);
        double error = (incremental - full).abs().max().item<float>() / full.abs().max().item<float>();
        output.WriteLine($"{modelType} {method}: cache vs full recomputation, max relative difference {error:E2}");
        Assert.True(error < 1e-5, $"{modelType} {method}: decoding with the cache differs from full recomputation by {error:E2}");
    }
}
