using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.IO;

/// <summary>A config.json whose sizes are not those of the weights beside it is refused, naming the field, its value and
/// what the weights say, by every path that builds a model on a folder, before any module is built: a config claiming
/// 2^31-1 layers or a million-wide MLP would otherwise be allocated as claimed.</summary>
public sealed class ConfigAgainstWeightsTests : IDisposable
{
    private static readonly Lazy<byte[]> Weights = new(() =>
    {
        using var folder = new TempFolder();
        using (var model = PlainCausalLM.Create(TestModels.StoriesShape))
            SafeTensorsWriter.Save(folder.File("model.safetensors"), model.BaseParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)));
        return File.ReadAllBytes(folder.File("model.safetensors"));
    });

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    /// <summary>The stories-shaped checkpoint (5 layers, hidden 64, intermediate 172, 8 heads, 4 kv heads, vocab 512,
    /// tied embeddings) with its config.json edited.</summary>
    private string Checkpoint(string? field = null, int value = 0)
    {
        folder.Write("model.safetensors", Weights.Value);
        JsonNode config = JsonNode.Parse(TestModels.StoriesShape.ToJson())!;
        if (field is not null) config[field] = value;
        folder.Write("config.json", config.ToJsonString());
        return folder.Path;
    }

    /// <summary>Every way a model is built on a folder: the generated FromPretrained, the run-time declaration, the plain
    /// base, the registry's Build and the config reader itself.</summary>
    private static IEnumerable<(string Path, Action Load)> LoadPaths(string dir)
    {
        yield return ("LlamaConfig.LoadMatchingWeights", () => LlamaConfig.LoadMatchingWeights(dir));
        yield return ("PlainCausalLM.FromPretrained", () => PlainCausalLM.FromPretrained(dir).Dispose());
        yield return ("SpecModel.FromPretrained", () => SpecModel.FromPretrained(dir, StoriesLora.Spec).Dispose());
        yield return ("generated FromPretrained", () => StoriesMixLora.FromPretrained(dir).Dispose());
        yield return ("DeclaredModel.Build", () => MoeDsl.Generated.DeclaredModels.All.First(m => m.Type == typeof(StoriesLora)).Build(dir, null, out _).Dispose());
    }

    [Fact]
    public void A_config_that_matches_its_weights_loads_on_every_path()
    {
        string dir = Checkpoint();
        Assert.Equal(TestModels.StoriesShape, LlamaConfig.LoadMatchingWeights(dir));
        foreach (var (_, load) in LoadPaths(dir)) load();
    }

    [Theory]
    [InlineData("num_hidden_layers", int.MaxValue, "is 2147483647 in config.json but the weights say layers present 0..4 (model.layers.N.*); set num_hidden_layers to 5")]
    [InlineData("num_hidden_layers", 3, "is 3 in config.json but the weights say layers present 0..4 (model.layers.N.*); set num_hidden_layers to 5")]
    [InlineData("hidden_size", 1 << 14, "is 16384 in config.json but the weights say model.embed_tokens.weight [512, 64]; set hidden_size to 64")]
    [InlineData("intermediate_size", 1 << 30, "is 1073741824 in config.json but the weights say model.layers.0.mlp.gate_proj.weight [172, 64]; set intermediate_size to 172")]
    [InlineData("vocab_size", 1 << 24, "is 16777216 in config.json but the weights say model.embed_tokens.weight [512, 64]; set vocab_size to 512")]
    [InlineData("num_attention_heads", 16, "is 16 and num_key_value_heads 4 in config.json, so model.layers.0.self_attn.k_proj.weight would be [16, 64] (4 kv heads x head dim 4), but the weights say [32, 64]; set num_attention_heads 8 (with num_key_value_heads 4) or num_key_value_heads 8 (with num_attention_heads 16)")]
    [InlineData("num_key_value_heads", 2, "is 8 and num_key_value_heads 2 in config.json, so model.layers.0.self_attn.k_proj.weight would be [16, 64] (2 kv heads x head dim 8), but the weights say [32, 64]; set num_attention_heads 4 (with num_key_value_heads 2) or num_key_value_heads 4 (with num_attention_heads 8)")]
    public void A_size_the_weights_do_not_have_is_refused_on_every_path_naming_the_field(string field, int value, string problem)
    {
        string dir = Checkpoint(field, value);
        string expectedField = field == "num_key_value_heads" ? "num_attention_heads" : field;   // the weights fix only their product
        foreach (var (path, load) in LoadPaths(dir))
        {
            var e = Assert.Throws<ModelFormatException>(load);
            Assert.True(e.File == Path.Combine(dir, "config.json") && e.Item == expectedField && e.Problem == problem, $"{path}: {e.Message}");
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void Layers_with_a_gap_are_named_as_present()
    {
        string dir = Checkpoint("num_hidden_layers", 7);
        using (var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
        {
            var tensors = file.Entries.Select(e => new KeyValuePair<string, Tensor>(e.Name, file.Read(e.Name))).ToList();
            tensors.Add(new("model.layers.6.input_layernorm.weight", ones(64)));
            SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), tensors);
        }
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.LoadMatchingWeights(dir));
        Assert.Equal("num_hidden_layers", e.Item);
        Assert.Contains("layers present 0..4, 6 (model.layers.N.*)", e.Problem);
        Assert.Contains("without gaps", e.Problem);
    }

    [Fact]
    public void A_single_misshaped_tensor_among_agreeing_ones_is_left_to_the_load_which_names_it()
    {
        string dir = Checkpoint();
        using (var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
        {
            var tensors = file.Entries.Select(e => new KeyValuePair<string, Tensor>(e.Name,
                e.Name == "model.layers.3.mlp.gate_proj.weight" ? zeros(100, 64) : file.Read(e.Name))).ToList();
            SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), tensors);
        }
        Assert.Equal(TestModels.StoriesShape, LlamaConfig.LoadMatchingWeights(dir));
        var e = Assert.Throws<ModelFormatException>(() => PlainCausalLM.FromPretrained(dir));
        Assert.Equal("model.layers.3.mlp.gate_proj.weight", e.Item);
        Assert.Contains("[100, 64]", e.Problem);
    }

    [Fact]
    public void Weights_without_the_tensors_that_fix_the_sizes_are_refused_naming_the_tensor()
    {
        string dir = Checkpoint();
        using (var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
        {
            var tensors = file.Entries.Where(e => e.Name != "model.embed_tokens.weight").Select(e => new KeyValuePair<string, Tensor>(e.Name, file.Read(e.Name))).ToList();
            SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), tensors);
        }
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.LoadMatchingWeights(dir));
        Assert.Equal("model.embed_tokens.weight", e.Item);
        Assert.Contains("is missing from the checkpoint", e.Problem);
    }
}
