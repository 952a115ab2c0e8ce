using System;
using System.IO;
using System.Linq;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Families;

/// <summary>The same family checkpoint stored as bf16, fp16 or in shards: shards load to bit-identical logits, and the
/// half-precision files load (tensor by tensor into the fp32 base) to logits within the rounding of their weights.</summary>
public sealed class CheckpointFormatTests(ITestOutputHelper output)
{
    private static readonly long[] Prompt = { 1, 17, 42, 99, 3, 250, 128, 64 };

    private static Tensor Logits(string directory)
    {
        using var model = PlainCausalLM.FromPretrained(directory);
        using var noGrad = no_grad();
        return model.Forward(tensor(Prompt, dtype: ScalarType.Int64).unsqueeze(0)).Logits.squeeze(0).detach().clone();
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("phi3")]
    [InlineData("gemma2")]
    public void Shards_and_half_precision_files_load(string modelType)
    {
        LlamaConfig config = FamilyShapes.Tiny(ModelFamily.ForModelType(modelType)!);
        using var folder = new IO.TempFolder();
        string Write(string name, ScalarType dtype, int shards)
        {
            string dir = Path.Combine(folder.Path, name);
            CheckpointWriter.Write(config, dir, dtype: dtype, shards: shards);
            return dir;
        }
        using var scope = NewDisposeScope();
        Tensor fp32 = Logits(Write("fp32", ScalarType.Float32, 1));
        string sharded = Write("sharded", ScalarType.Float32, 3);
        Assert.True(File.Exists(Path.Combine(sharded, "model.safetensors.index.json")));
        Assert.Equal(3, Directory.GetFiles(sharded, "model-*-of-00003.safetensors").Length);
        Assert.True(fp32.bytes.SequenceEqual(Logits(sharded).bytes), "sharded checkpoint gives other logits");
        double scale = fp32.abs().max().item<float>();
        foreach (var (name, dtype, bound) in new[] { ("bf16", ScalarType.BFloat16, 0.05), ("fp16", ScalarType.Float16, 0.01) })
        {
            double drift = (Logits(Write(name, dtype, 2)) - fp32).abs().max().item<float>() / scale;
            output.WriteLine($"{modelType} {name} checkpoint: max |logit - fp32 logit| / max |fp32 logit| = {drift:E2}");
            Assert.True(drift > 0 && drift < bound, $"{modelType} {name}: relative drift {drift:E2} outside (0, {bound})");
        }
    }
}
