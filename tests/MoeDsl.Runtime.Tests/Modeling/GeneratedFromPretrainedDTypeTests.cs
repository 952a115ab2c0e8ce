using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Tests.IO;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Modeling;

/// <summary>The generated <c>X.FromPretrained(dir, device, baseDType)</c> (StoriesMixLora on a random stories-shaped checkpoint) (and the registry's <c>DeclaredModel.FromPretrained</c>,
/// which calls it) loads the frozen base in the dtype asked for, as the run-time declaration path
/// <c>SpecModel.FromPretrained(dir, X.Spec, device, baseDType)</c> does; without it the CPU default stays fp32.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator
public sealed class GeneratedFromPretrainedDTypeTests(ITestOutputHelper output)
{
    private static readonly long[] Prompt = Enumerable.Range(0, 20).Select(i => (long)(3 + i * 37 % 500)).ToArray();

    private static Tensor Logits(MoeCausalLM model)
    {
        using var _ = no_grad();
        return model.Forward(tensor(Prompt, dtype: ScalarType.Int64).unsqueeze(0)).Logits.to(ScalarType.Float32);
    }

    /// <summary>Gives every adapter parameter the same non-zero values in each model (by name), so the LoRA deltas and the
    /// routing take part in the logits (fresh adapters have LoRA B = 0).</summary>
    private static void SameNonZeroAdapters(params MoeCausalLM[] models)
    {
        using var generator = new Generator(17);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in models[0].AdapterParameters())
            values[name] = randn(p.shape, dtype: ScalarType.Float32, generator: generator) * 0.2;
        using (no_grad())
            foreach (MoeCausalLM model in models)
            {
                var names = model.AdapterParameters().Select(p => p.Name).ToList();
                Assert.Equal(values.Keys.OrderBy(k => k, StringComparer.Ordinal), names.OrderBy(k => k, StringComparer.Ordinal));
                foreach (var (name, p) in model.AdapterParameters()) p.copy_(values[name]);
            }
        foreach (Tensor t in values.Values) t.Dispose();
    }

    /// <summary>A random stories-shaped checkpoint (fp32 file) in <paramref name="folder"/>.</summary>
    private static string StoriesShapedCheckpoint(TempFolder folder)
    {
        random.manual_seed(9);
        using (var model = PlainCausalLM.Create(TestModels.StoriesShape))
            SafeTensorsWriter.Save(folder.File("model.safetensors"), model.BaseParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)));
        folder.Write("config.json", TestModels.StoriesShape.ToJson());
        return folder.Path;
    }

    /// <summary>The generated class as its runtime base. (Through object: dotnet format's workspace does not see the
    /// generated base class of a declaration, and reports a direct conversion as an error.)</summary>
    private static MoeCausalLM AsModel(object model) => (MoeCausalLM)model;

    [Fact]
    public void The_generated_FromPretrained_loads_a_bf16_base_as_the_run_time_declaration_does_and_defaults_to_fp32()
    {
        using var folder = new TempFolder();
        string dir = StoriesShapedCheckpoint(folder);
        using MoeCausalLM generated = AsModel(StoriesMixLora.FromPretrained(dir, baseDType: ScalarType.BFloat16));
        using SpecModel independent = SpecModel.FromPretrained(dir, StoriesMixLora.Spec, baseDType: ScalarType.BFloat16);
        DeclaredModel entry = MoeDsl.Generated.DeclaredModels.All.Single(m => m.Type == typeof(StoriesMixLora));
        using MoeCausalLM registry = entry.FromPretrained(dir, device: null, ScalarType.BFloat16);
        using MoeCausalLM fp32 = AsModel(StoriesMixLora.FromPretrained(dir));
        Assert.IsType<StoriesMixLora>(generated);
        Assert.IsType<StoriesMixLora>(registry);

        foreach (MoeCausalLM model in new MoeCausalLM[] { generated, registry })
        {
            Assert.NotEmpty(model.BaseParameters());
            Assert.All(model.BaseParameters(), p => Assert.Equal(ScalarType.BFloat16, p.Parameter.dtype));
            Assert.NotEmpty(model.AdapterParameters());
            Assert.All(model.AdapterParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        }
        Assert.All(fp32.BaseParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        Assert.All(fp32.AdapterParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));

        // The same frozen bf16 weights, bit for bit, on both paths.
        var reference = independent.BaseParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in generated.BaseParameters())
        {
            Assert.Equal(ScalarType.BFloat16, reference[name].dtype);
            Assert.True(reference[name].bytes.SequenceEqual(p.bytes), $"{name}: the generated bf16 load differs from SpecModel's");
        }

        SameNonZeroAdapters(generated, independent, registry, fp32);
        using Tensor a = Logits(generated), b = Logits(independent), c = Logits(registry), d = Logits(fp32);
        Assert.True(a.bytes.SequenceEqual(b.bytes), "the generated model's bf16 logits differ from SpecModel.FromPretrained's");
        Assert.True(a.bytes.SequenceEqual(c.bytes), "the registry's bf16 logits differ from the generated model's");
        // The default is fp32: its logits are not the bf16 ones. (No drift bound here: random weights and random non-zero
        // adapters are not what docs/precision.md's bound is measured on; FrozenBaseDTypeTests checks that.)
        using Tensor drift = (a - d).abs();
        double relative = drift.max().item<float>() / d.abs().max().item<float>();
        output.WriteLine($"bf16 vs fp32 base (same adapters): max |d| / max |fp32| = {relative:E2}");
        Assert.True(relative > 0, "the default load gave the bf16 logits: it did not stay fp32");
    }
}
