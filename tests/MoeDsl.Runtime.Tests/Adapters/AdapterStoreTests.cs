using System;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Adapters;

public sealed class AdapterStoreTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "moedsl-adapter-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

    private static void Randomise(MoeCausalLM model)
    {
        using var _ = no_grad();
        foreach (var (_, p) in model.AdapterParameters()) p.copy_(randn_like(p));
    }

    [Fact]
    public void MixLoraKeysFollowMoePeftLayoutAndRoundTripIsBitIdentical()
    {
        random.manual_seed(1);
        using var a = StoriesMixLora.Create(TestModels.StoriesShape);
        Randomise(a);
        AdapterStore.Save(a, dir, "stories260K");
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, AdapterStore.TensorFile)))
        {
            var names = f.Entries.Select(e => e.Name).ToHashSet();
            Assert.Contains("mixlora.layers.0.mlp.moe_gate.weight", names);
            Assert.Contains("mixlora.layers.4.mlp.gate_proj.experts.3.lora_A.weight", names);
            Assert.Contains("mixlora.layers.2.mlp.down_proj.experts.0.lora_B.weight", names);
            Assert.Contains("mixlora.layers.1.self_attn.q_proj.lora_A.weight", names);
            Assert.Contains("mixlora.layers.1.self_attn.o_proj.lora_B.weight", names);
            Assert.Equal(StoriesMixLora.TrainableParameters, f.Entries.Sum(e => e.ElementCount));
            Assert.DoesNotContain(names, n => n.Contains("embed_tokens") || n.EndsWith("q_proj.weight", StringComparison.Ordinal));
        }

        random.manual_seed(2);
        using var b = StoriesMixLora.Create(TestModels.StoriesShape);
        AdapterStore.Load(b, dir);
        var pa = a.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter.bytes.ToArray());
        foreach (var (name, p) in b.AdapterParameters()) Assert.Equal(pa[name], p.bytes.ToArray());
    }

    [Fact]
    public void LoadingIntoAnotherDeclarationNamesTheFirstMismatch()
    {
        using var mix = StoriesMixLora.Create(TestModels.StoriesShape);
        AdapterStore.Save(mix, dir, "stories260K");
        using var mola = StoriesMola.Create(TestModels.StoriesShape);
        var e = Assert.Throws<ModelFormatException>(() => AdapterStore.Load(mola, dir));
        Assert.Equal("placement", e.Item);
        Assert.Contains("EveryProjection", e.Message);
    }

    [Fact]
    public void AMissingExpertTensorIsNamed()
    {
        using var mix = StoriesMixLora.Create(TestModels.StoriesShape);
        AdapterStore.Save(mix, dir, "base");
        string path = Path.Combine(dir, AdapterStore.TensorFile);
        var kept = new System.Collections.Generic.List<System.Collections.Generic.KeyValuePair<string, Tensor>>();
        using (var f = SafeTensorsFile.Open(path))
            foreach (var entry in f.Entries.Where(x => x.Name != "mixlora.layers.3.mlp.up_proj.experts.2.lora_B.weight"))
                kept.Add(new(entry.Name, f.Read(entry.Name)));
        SafeTensorsWriter.Save(path, kept);
        var e = Assert.Throws<ModelFormatException>(() => AdapterStore.Load(mix, dir));
        Assert.Equal("mixlora.layers.3.mlp.up_proj.experts.2.lora_B.weight", e.Item);
    }

    [Fact]
    public void NonFiniteAdapterIsNeverSaved()
    {
        using var mix = StoriesMixLora.Create(TestModels.StoriesShape);
        using (no_grad()) mix.AdapterParameters().First().Parameter.fill_(double.NaN);
        Assert.Throws<InvalidOperationException>(() => AdapterStore.Save(mix, dir, "base"));
        Assert.False(File.Exists(Path.Combine(dir, AdapterStore.TensorFile)));
    }
}
