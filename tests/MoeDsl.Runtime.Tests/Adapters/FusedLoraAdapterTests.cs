using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.Tests.Routing;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Adapters;

/// <summary>Plain LoRA on phi3 is saved in PEFT's naming for that family: one pair per fused module (qkv_proj,
/// gate_up_proj), A stacked and B block-diagonal at rank n r, rank_pattern/alpha_pattern keeping alpha / r.</summary>
public sealed class FusedLoraAdapterTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "moedsl-fused-adapter-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

    private static readonly LlamaConfig Phi3 = FamilyShapes.Tiny(ModelFamily.Phi3);
    private const string Prefix = "base_model.model.model.layers.";

    private static SpecModel Model(LoraTargets targets, long seed)
    {
        random.manual_seed(seed);
        SpecModel model = SpecModel.Create(Phi3, StoriesLora.Spec with { Targets = targets });
        using var _ = no_grad();
        foreach (var (_, p) in model.AdapterParameters()) p.copy_(randn_like(p));
        return model;
    }

    private static TorchSharp.Modules.Parameter Param(MoeCausalLM m, string name) => m.AdapterParameters().Single(p => p.Name == name).Parameter;

    [Fact]
    public void SavedKeysShapesAndConfigAreExactlyPefts()
    {
        using var model = Model(LoraTargets.All, 1);
        AdapterStore.Save(model, dir, "microsoft/Phi-3-mini-4k-instruct");
        long d = Phi3.HiddenSize, q = Phi3.QueryDim, kv = Phi3.KeyValueDim, inter = Phi3.IntermediateSize;
        const long r = 8;   // StoriesLora: rank 8, alpha 16
        var expected = new Dictionary<string, long[]>();
        for (int i = 0; i < Phi3.NumHiddenLayers; i++)
        {
            expected[$"{Prefix}{i}.self_attn.qkv_proj.lora_A.weight"] = new[] { 3 * r, d };
            expected[$"{Prefix}{i}.self_attn.qkv_proj.lora_B.weight"] = new[] { q + 2 * kv, 3 * r };
            expected[$"{Prefix}{i}.self_attn.o_proj.lora_A.weight"] = new[] { r, q };
            expected[$"{Prefix}{i}.self_attn.o_proj.lora_B.weight"] = new[] { d, r };
            expected[$"{Prefix}{i}.mlp.gate_up_proj.lora_A.weight"] = new[] { 2 * r, d };
            expected[$"{Prefix}{i}.mlp.gate_up_proj.lora_B.weight"] = new[] { 2 * inter, 2 * r };
            expected[$"{Prefix}{i}.mlp.down_proj.lora_A.weight"] = new[] { r, inter };
            expected[$"{Prefix}{i}.mlp.down_proj.lora_B.weight"] = new[] { d, r };
        }
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, AdapterStore.TensorFile)))
        {
            Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), f.Entries.Select(e => e.Name).OrderBy(k => k, StringComparer.Ordinal));
            foreach (SafeTensorEntry e in f.Entries) Assert.Equal(expected[e.Name], e.Shape);
        }
        JsonObject config = AdapterConfig.Parse(Path.Combine(dir, AdapterStore.ConfigFile));
        Assert.Equal("LORA", (string?)config["peft_type"]);
        Assert.Equal(new[] { "qkv_proj", "gate_up_proj", "o_proj", "down_proj" }, config["target_modules"]!.AsArray().Select(t => (string)t!));
        Assert.Equal(8, (int)config["r"]!);
        Assert.Equal(16.0, (double)config["lora_alpha"]!);
        Assert.Equal("""{"qkv_proj":24,"gate_up_proj":16}""", config["rank_pattern"]!.ToJsonString());
        Assert.Equal("""{"qkv_proj":48,"gate_up_proj":32}""", config["alpha_pattern"]!.ToJsonString());
        // The declaration read back from the file targets the split projections it was trained with.
        Assert.Equal(LoraTargets.All, AdapterConfig.Read(Path.Combine(dir, AdapterStore.ConfigFile)).Targets);
    }

    /// <summary>PEFT's delta on the fused module, (alpha_pattern / rank_pattern) B_f A_f, is the split deltas
    /// (alpha / r) B_x A_x one above the other; an untargeted part (k here) gets zero rows.</summary>
    [Theory]
    [InlineData(LoraTargets.All, 3)]
    [InlineData(LoraTargets.Q | LoraTargets.V | LoraTargets.Up, 2)]
    public void FusedDeltaIsTheSplitDeltasStacked(LoraTargets targets, int attentionParts)
    {
        using var model = Model(targets, 2);
        AdapterStore.Save(model, dir, "phi3");
        JsonObject config = AdapterConfig.Parse(Path.Combine(dir, AdapterStore.ConfigFile));
        double Scale(string module) => config["alpha_pattern"]![module] is JsonNode a ? (double)a / (int)config["rank_pattern"]![module]! : (double)config["lora_alpha"]! / (int)config["r"]!;
        using var f = SafeTensorsFile.Open(Path.Combine(dir, AdapterStore.TensorFile));
        using var scope = NewDisposeScope();
        Tensor Split(string name, bool on, long rows) => on
            ? 2.0 * Param(model, $"model.layers.1.{name}.lora_B.weight").matmul(Param(model, $"model.layers.1.{name}.lora_A.weight"))   // alpha / r = 16 / 8
            : zeros(rows, Phi3.HiddenSize);
        Tensor fusedQkv = Scale("qkv_proj") * f.Read($"{Prefix}1.self_attn.qkv_proj.lora_B.weight").matmul(f.Read($"{Prefix}1.self_attn.qkv_proj.lora_A.weight"));
        Tensor splitQkv = cat(new[]
        {
            Split("self_attn.q_proj", true, Phi3.QueryDim), Split("self_attn.k_proj", (targets & LoraTargets.K) != 0, Phi3.KeyValueDim),
            Split("self_attn.v_proj", true, Phi3.KeyValueDim),
        }, 0);
        Assert.Equal(attentionParts * 8, f.Entry($"{Prefix}1.self_attn.qkv_proj.lora_A.weight").Shape[0]);
        Numerics.AssertClose(splitQkv, fusedQkv, "qkv_proj delta", 1e-5);
        Tensor fusedGateUp = Scale("gate_up_proj") * f.Read($"{Prefix}1.mlp.gate_up_proj.lora_B.weight").matmul(f.Read($"{Prefix}1.mlp.gate_up_proj.lora_A.weight"));
        Tensor splitGateUp = cat(new[] { Split("mlp.gate_proj", (targets & LoraTargets.Gate) != 0, Phi3.IntermediateSize), Split("mlp.up_proj", true, Phi3.IntermediateSize) }, 0);
        Numerics.AssertClose(splitGateUp, fusedGateUp, "gate_up_proj delta", 1e-5);
    }

    [Fact]
    public void SaveLoadRoundTripsBitIdentically()
    {
        using var a = Model(LoraTargets.All, 3);
        AdapterStore.Save(a, dir, "phi3");
        using var b = Model(LoraTargets.All, 4);
        AdapterStore.Load(b, dir);
        var saved = a.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter.bytes.ToArray());
        foreach (var (name, p) in b.AdapterParameters()) Assert.True(saved[name].AsSpan().SequenceEqual(p.bytes), name);
    }

    /// <summary>PEFT's own phi3 adapter (rank r on qkv_proj, one A shared by q, k and v) loads as the same function: each
    /// split pair gets that A and its rows of B. A fused B that is not block-diagonal is refused naming the key.</summary>
    [Fact]
    public void PeftsSharedAFormLoadsAndANonBlockDiagonalBIsRefused()
    {
        using var a = Model(LoraTargets.All, 5);
        AdapterStore.Save(a, dir, "phi3");
        string path = Path.Combine(dir, AdapterStore.TensorFile);
        string keyA = $"{Prefix}0.self_attn.qkv_proj.lora_A.weight", keyB = $"{Prefix}0.self_attn.qkv_proj.lora_B.weight";
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var f = SafeTensorsFile.Open(path))
            foreach (SafeTensorEntry e in f.Entries) tensors.Add(new(e.Name, f.Read(e.Name)));
        Tensor sharedA = randn(8, Phi3.HiddenSize), fullB = randn(Phi3.QueryDim + 2 * Phi3.KeyValueDim, 8);
        SafeTensorsWriter.Save(path, tensors.Select(t => t.Key == keyA ? new KeyValuePair<string, Tensor>(keyA, sharedA) : t.Key == keyB ? new(keyB, fullB) : t).ToList());
        using var b = Model(LoraTargets.All, 6);
        AdapterStore.Load(b, dir);
        Tensor fused = fullB.matmul(sharedA);
        long row = 0;
        foreach (var (part, rows) in new[] { ("q_proj", Phi3.QueryDim), ("k_proj", Phi3.KeyValueDim), ("v_proj", Phi3.KeyValueDim) })
        {
            Tensor delta = Param(b, $"model.layers.0.self_attn.{part}.lora_B.weight").matmul(Param(b, $"model.layers.0.self_attn.{part}.lora_A.weight"));
            Numerics.AssertClose(fused.narrow(0, row, rows), delta, part, 1e-5);
            row += rows;
        }

        // Rank 3r with an entry off the diagonal blocks: not three rank-r pairs.
        AdapterStore.Save(a, dir, "phi3");
        tensors.Clear();
        using (var f = SafeTensorsFile.Open(path))
            foreach (SafeTensorEntry e in f.Entries) tensors.Add(new(e.Name, f.Read(e.Name)));
        Tensor offBlock = tensors.Single(t => t.Key == keyB).Value.clone();
        offBlock[0, 8] = tensor(1f);   // a q row in k's columns
        SafeTensorsWriter.Save(path, tensors.Select(t => t.Key == keyB ? new KeyValuePair<string, Tensor>(keyB, offBlock) : t).ToList());
        var error = Assert.Throws<ModelFormatException>(() => AdapterStore.Load(b, dir));
        Assert.Equal(keyB, error.Item);
        Assert.Contains("block-diagonal", error.Message);
    }
}
