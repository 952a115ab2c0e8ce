using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.BaseModel;

/// <summary>Loading a checkpoint: a missing, extra or mis-shaped tensor is an error naming it; the KV cache and sampling.</summary>
public sealed class CheckpointLoadingTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "moedsl-ckpt-" + Guid.NewGuid().ToString("N"));
    private static readonly LlamaConfig Small = new(32, 48, 2, 4, 2, 40, 1e-5, 10000, TieWordEmbeddings: false);

    public void Dispose() { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

    private void Write(Func<List<KeyValuePair<string, Tensor>>, List<KeyValuePair<string, Tensor>>> edit)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), Small.ToJson());
        using var model = PlainCausalLM.Create(Small);
        var tensors = model.BaseParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)).ToList();
        SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), edit(tensors));
    }

    [Fact]
    public void ACompleteCheckpointLoadsExactly()
    {
        Write(t => t);
        using var model = PlainCausalLM.FromPretrained(dir);
        using var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        foreach (var (name, p) in model.BaseParameters())
            Assert.True(file.Read(name).bytes.SequenceEqual(p.bytes), name);
    }

    [Fact]
    public void AMissingTensorIsNamed()
    {
        Write(t => t.Where(kv => kv.Key != "model.layers.1.mlp.up_proj.weight").ToList());
        var e = Assert.Throws<ModelFormatException>(() => PlainCausalLM.FromPretrained(dir));
        Assert.Equal("model.layers.1.mlp.up_proj.weight", e.Item);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void AnExtraTensorIsNamed()
    {
        Write(t => t.Append(new("model.layers.7.self_attn.q_proj.weight", zeros(32, 32))).ToList());
        var e = Assert.Throws<ModelFormatException>(() => PlainCausalLM.FromPretrained(dir));
        Assert.Equal("model.layers.7.self_attn.q_proj.weight", e.Item);
    }

    [Fact]
    public void AMisShapedTensorIsNamedWithBothShapes()
    {
        Write(t => t.Select(kv => kv.Key == "model.layers.0.self_attn.k_proj.weight" ? new KeyValuePair<string, Tensor>(kv.Key, zeros(32, 32)) : kv).ToList());
        var e = Assert.Throws<ModelFormatException>(() => PlainCausalLM.FromPretrained(dir));
        Assert.Equal("model.layers.0.self_attn.k_proj.weight", e.Item);
        Assert.Contains("[32, 32]", e.Message);
        Assert.Contains("[16, 32]", e.Message);
    }

    [Fact]
    public void Bf16AndF16CheckpointsLoadAsTheirValues()
    {
        Write(t => t.Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(kv.Key.Contains("mlp") ? ScalarType.BFloat16 : ScalarType.Float16))).ToList());
        using var model = PlainCausalLM.FromPretrained(dir);
        using var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        foreach (var (name, p) in model.BaseParameters())
            Assert.True(file.Read(name).to(ScalarType.Float32).bytes.SequenceEqual(p.bytes), name);
    }

    [Fact]
    public void CachedDecodingEqualsRecomputingTheWholeSequence()
    {
        random.manual_seed(4);
        using var model = PlainCausalLM.Create(Small);
        var ids = TextGenerator.Generate(model, new long[] { 1, 5, 9 }, new GenerationOptions(MaxNewTokens: 12));
        // Reference without a cache: argmax of a full forward over the whole sequence at every step.
        var seq = new List<long> { 1, 5, 9 };
        using (no_grad())
        {
            for (int i = 0; i < 12; i++)
            {
                using var o = model.Forward(tensor(seq.ToArray()).unsqueeze(0));
                seq.Add(o.Logits[0, -1].argmax().item<long>());
            }
        }
        Assert.Equal(seq.Skip(3), ids);
    }

    [Fact]
    public void SamplingIsSeededAndTopKOneIsGreedy()
    {
        random.manual_seed(5);
        using var model = PlainCausalLM.Create(Small);
        var a = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 20, Temperature: 1.5, Seed: 3));
        var b = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 20, Temperature: 1.5, Seed: 3));
        var c = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 20, Temperature: 1.5, Seed: 4));
        var greedy = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 20));
        var topOne = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 20, Temperature: 1.5, TopK: 1, Seed: 9));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(greedy, topOne);
    }
}
