using System;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace MoeDsl.Generator.Tests;

/// <summary><c>TrainableParameters</c> against the MoLA paper's Table 1 and against counts derived by hand, and against the
/// parameters of the model the generated code actually builds.</summary>
public class ParameterCountTests
{
    internal static long TrainableParameters(string source, params (string, string)[] files)
    {
        var outcome = GeneratorHarness.Run(source, files);
        Assert.DoesNotContain(outcome.MoeDiagnostics, d => d.Severity == DiagnosticSeverity.Error);
        string generated = outcome.ModelSources.Single().SourceText.ToString();
        string line = generated.Split('\n').Single(l => l.Contains("public const long TrainableParameters", StringComparison.Ordinal));
        string digits = new string(line.Substring(line.IndexOf('=') + 1).Where(char.IsDigit).ToArray());
        return long.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string MoLA(string allocation) => Declarations.Wrap($$"""
        [MoeModel(Placement = ExpertPlacement.EveryProjection)]
        [BaseModel({{Declarations.Llama2_7B}})]
        [ExpertsPerLayer({{allocation}})]
        [Router(RouterKind.TopK, TopK = 2)]
        [Lora(Rank = 8, Alpha = 16, Targets = LoraTargets.All)]
        """, "M");

    [Theory]
    [InlineData("5, 5, 5, 5", 105_635_840L)]   // MoLA Table 1, MoLA(5555)
    [InlineData("8, 8, 8, 8", 169_017_344L)]   // MoLA Table 1, MoLA(8888)
    [InlineData("AllocationPreset.Rectangle", 105_635_840L)]
    public void MoLATable1(string allocation, long expected)
        => Assert.Equal(expected, TrainableParameters(MoLA(allocation)));

    [Fact]
    public void MoLA2468SumsItsGroups()
    {
        // Per layer and per expert (r = 8, LLaMA-2-7B): LoRA 8*(4096+4096)*4 + 8*(4096+11008)*3 = 624,640 and routers
        // 4096*6 + 11008 = 35,584 -> 660,224 per expert; 8 layers each of 2, 4, 6 and 8 experts = 160 expert-layers.
        Assert.Equal(660_224L * 8 * (2 + 4 + 6 + 8), TrainableParameters(MoLA("2, 4, 6, 8")));
    }

    [Fact]
    public void MixLoRAByHand()
    {
        // LLaMA-2-7B, E = 8, r = 8, all targets, FeedForward placement. Per layer:
        //   attention plain LoRA: 4 * 8*(4096+4096)                 =   262,144
        //   router 8 x 4096                                         =    32,768
        //   FFN experts: 8 * [2 * 8*(4096+11008) + 8*(11008+4096)]  = 2,899,968
        // = 3,194,880 per layer, x 32 layers.
        string source = Declarations.Snapshots.Single(s => s.Name == "MixLoRA").Source;
        Assert.Equal(3_194_880L * 32, TrainableParameters(source));
    }

    [Fact]
    public void PlainLoraByHand()
    {
        // stories260K (hidden 64, 8 heads, 4 kv heads -> k/v out 32), r = 4 on q and v: 4*(64+64) + 4*(64+32) = 896 per layer, 5 layers.
        string source = Declarations.Snapshots.Single(s => s.Name == "PlainLora").Source;
        Assert.Equal(896L * 5, TrainableParameters(source, ("/repo/stories260K/config.json", Declarations.Stories260KConfig)));
    }

    [Fact]
    public void GMoEByHand()
    {
        // stories260K, E = 8, r = 2, all targets, Graph router g = 128, L = 2, with [GraphLosses]. Per layer:
        //   attention plain LoRA: 2*(64+64)*2 + 2*(64+32)*2                      =    896
        //   FFN experts: 8 * 2*(64+172) * 3                                      = 11,328
        //   graph router: expert and token projections 2 * 128*64, GCN 2 * 128*128,
        //                 output 128, Poisson lambda 1, Normal sigma 1           = 49,282
        string source = Declarations.Snapshots.Single(s => s.Name == "GraphGMoE").Source;
        Assert.Equal((896L + 11_328 + 49_282) * 5, TrainableParameters(source));
    }

    /// <summary>Builds the generated models on a random stories260K-shaped base and counts their trainable parameters.</summary>
    [Theory]
    [InlineData("MixLoRA", 4, "ExpertsPerLayer(4)", "RouterKind.TopK, TopK = 2", "ExpertPlacement.FeedForward", "LoraTargets.All")]
    [InlineData("MoLA", 5, "ExpertsPerLayer(2, 3, 4, 5, 6, TopK = new[] { 1, 2, 2, 3, 3 }, Ranks = new[] { 2, 4, 4, 8, 8 })", "RouterKind.TopK", "ExpertPlacement.EveryProjection", "LoraTargets.All")]
    [InlineData("Plain", 5, null, null, "ExpertPlacement.FeedForward", "LoraTargets.Q | LoraTargets.V | LoraTargets.Down")]
    public void BuiltModelHasTheDeclaredTrainableParameters(string name, int layersUnused, string? experts, string? router, string placement, string targets)
    {
        _ = layersUnused;
        string attributes = $"[MoeModel(Placement = {placement})]\n[BaseModel({Declarations.Stories260K})]\n"
            + (experts is null ? "" : $"[{experts}]\n[Router({router})]\n")
            + $"[Lora(Rank = 4, Alpha = 8, Targets = {targets})]";
        string source = Declarations.Wrap(attributes, name);
        var outcome = GeneratorHarness.Run(source);
        using var stream = new MemoryStream();
        var emit = outcome.Output.Emit(stream);
        Assert.True(emit.Success, GeneratorHarness.Describe(emit.Diagnostics));
        Assembly assembly = Assembly.Load(stream.ToArray());
        Type type = assembly.GetType("Examples." + name)!;
        long declared = (long)type.GetField("TrainableParameters")!.GetValue(null)!;

        var config = new MoeDsl.Runtime.IO.LlamaConfig(64, 172, 5, 8, 4, 512, TieWordEmbeddings: true);
        using var model = (MoeDsl.Runtime.Modeling.MoeCausalLM)type.GetMethod("Create")!.Invoke(null, new object[] { config })!;
        Assert.Equal(declared, model.CountAdapterParameters());
        Assert.Equal(declared, model.parameters().Where(p => p.requires_grad).Sum(p => p.numel()));
        var expertsInLayer = type.GetMethod("ExpertsInLayer")!;
        var spec = (MoeDsl.Runtime.Modeling.ModelSpec)type.GetProperty("Spec", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
        for (int l = 0; l < 5; l++)
            Assert.Equal(spec.IsMixture ? spec.ExpertsPerLayer[l] : 0, (int)expertsInLayer.Invoke(null, new object[] { l })!);
        var thrown = Assert.Throws<TargetInvocationException>(() => expertsInLayer.Invoke(null, new object[] { 5 }));
        Assert.IsType<ArgumentOutOfRangeException>(thrown.InnerException);

        // A config of another shape is refused by name.
        var other = config with { NumHiddenLayers = 6 };
        var mismatch = Assert.Throws<TargetInvocationException>(() => type.GetMethod("Create")!.Invoke(null, new object[] { other }));
        Assert.Contains("num_hidden_layers", mismatch.InnerException!.Message, StringComparison.Ordinal);
    }
}
