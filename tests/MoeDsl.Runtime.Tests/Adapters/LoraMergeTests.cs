using System;
using System.IO;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Adapters;

public sealed class LoraMergeTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "moedsl-merge-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

    [Fact]
    public void MergedCheckpointComputesWhatTheAdaptedModelComputes()
    {
        using var lora = StoriesLora.Create(TestModels.StoriesShape);
        lora.eval();
        using var ids = tensor(new long[] { 1, 300, 301, 17, 42, 511, 2, 9 }).unsqueeze(0);
        using var noGrad = no_grad();
        using var before = lora.Forward(ids);                      // B = 0: the base alone
        foreach (var (_, p) in lora.AdapterParameters()) p.copy_(randn_like(p) * 0.2);
        using var adapted = lora.Forward(ids);
        LoraMerge.SaveMerged(lora, dir);
        using var merged = PlainCausalLM.FromPretrained(dir);
        Assert.Equal(TestModels.StoriesShape, merged.Config);
        using var fromMerged = merged.Forward(ids);
        double change = (adapted.Logits - before.Logits).abs().max().item<float>();
        double diff = (adapted.Logits - fromMerged.Logits).abs().max().item<float>();
        Assert.True(change > 0.1, $"the adapters barely changed the logits ({change}), so the comparison would prove nothing");
        Assert.True(diff < 1e-4, $"merged logits differ from the adapted model's by {diff}");
    }

    [Fact]
    public void AMixtureIsRefused()
    {
        using var mix = StoriesMixLora.Create(TestModels.StoriesShape);
        var e = Assert.Throws<InvalidOperationException>(() => LoraMerge.SaveMerged(mix, dir));
        Assert.Contains("only plain LoRA", e.Message);
        Assert.False(Directory.Exists(dir));
    }
}
