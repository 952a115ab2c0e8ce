using System;
using System.Linq;
using System.Reflection;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Generator.Tests;

/// <summary>Presets spread their four groups over any layer count by the rule in DeclarationShapes (layer l of L in
/// group floor(4 l / L)), at compile time and when the runtime re-shapes a declaration; written-out counts still have to
/// divide the layers (MOE013).</summary>
public class PresetLayoutTests
{
    private static string Mola(string allocation, string baseModel = Declarations.Stories260K) => Declarations.Wrap($$"""
        [MoeModel(Placement = ExpertPlacement.EveryProjection)]
        [BaseModel({{baseModel}})]
        [ExpertsPerLayer({{allocation}})]
        [Router(RouterKind.TopK, TopK = 2)]
        [Lora(Rank = 2, Targets = LoraTargets.Q)]
        """, "M");

    [Fact]
    public void APresetOnStories260KsFiveLayersIsTwoOneOneOne()
    {
        var outcome = GeneratorHarness.Run(Mola("AllocationPreset.InvertedTriangle"));
        Assert.Empty(outcome.MoeDiagnostics);
        Assert.Empty(outcome.CompilerProblems);
        Assembly assembly = Load(outcome);
        Type type = assembly.GetType("Examples.M")!;
        MethodInfo experts = type.GetMethod("ExpertsInLayer")!;
        // 2-4-6-8 over 5 layers: layers 0-1 in group 0, layer 2 in 1, layer 3 in 2, layer 4 in 3.
        Assert.Equal(new[] { 2, 2, 4, 6, 8 }, Enumerable.Range(0, 5).Select(l => (int)experts.Invoke(null, new object[] { l })!));
        // q only, r = 2, hidden 64 -> 64: per expert 2 (64 + 64) = 256, router E x 64.
        long expected = new[] { 2, 2, 4, 6, 8 }.Sum(e => e * 256L + e * 64L);
        Assert.Equal(expected, (long)type.GetField("TrainableParameters")!.GetValue(null)!);
        var spec = (ModelSpec)type.GetProperty("Spec", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
        Assert.Equal(new[] { 2, 2, 4, 6, 8 }, spec.ExpertsPerLayer);
        Assert.Equal(expected, Enumerable.Range(0, 5).Sum(spec.TrainableParametersInLayer));
        Assert.Contains("// layers 0-1", outcome.ModelSources.Single().SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void APresetOnFewerLayersThanGroupsTakesTheGroupAtEachLayersDepth()
    {
        string two = Declarations.Stories260K.Replace("Layers = 5", "Layers = 2", StringComparison.Ordinal);
        var outcome = GeneratorHarness.Run(Mola("AllocationPreset.InvertedTriangle", two));
        Assert.Empty(outcome.MoeDiagnostics);
        Type type = Load(outcome).GetType("Examples.M")!;
        MethodInfo experts = type.GetMethod("ExpertsInLayer")!;
        Assert.Equal(new[] { 2, 6 }, Enumerable.Range(0, 2).Select(l => (int)experts.Invoke(null, new object[] { l })!));
        Assert.Contains("no layer: the base has fewer layers than groups", outcome.ModelSources.Single().SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void WrittenOutCountsMustStillDivideTheLayers()
        => Assert.Equal("MOE013", Assert.Single(GeneratorHarness.Run(Mola("2, 4, 6, 8")).MoeDiagnostics).Id);

    [Theory]
    [InlineData(32, 4)]
    [InlineData(5, 4)]
    [InlineData(6, 4)]
    [InlineData(7, 3)]
    [InlineData(2, 4)]
    [InlineData(1, 4)]
    public void TheRuntimeReshapesByTheSameRule(int layers, int groups)
    {
        var spec = new ModelSpec
        {
            Name = "m", Router = new MoeDsl.Runtime.Routing.TopKRouterSettings(),
            Groups = Enumerable.Range(0, groups).Select(g => new ExpertGroup(g + 2, 1, 2)).ToArray(),
            Layers = groups, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512,
        };
        var shaped = spec.ShapedTo(new MoeDsl.Runtime.IO.LlamaConfig(64, 172, layers, 8, 4, 512, TieWordEmbeddings: true));
        // Naive reference: the group whose share of the depth [g/n, (g+1)/n) holds the layer's start l/L.
        int[] expected = Enumerable.Range(0, layers)
            .Select(l => Enumerable.Range(0, groups).Last(g => g * layers <= l * groups) + 2).ToArray();
        Assert.Equal(expected, shaped.ExpertsPerLayer);
        // Runs differ by at most one layer when there are at least as many layers as groups.
        if (layers >= groups)
        {
            var sizes = Enumerable.Range(0, groups).Select(g => shaped.ExpertsPerLayer.Count(e => e == g + 2)).ToArray();
            Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(",", sizes));
        }
    }

    private static Assembly Load(GeneratorHarness.RunOutcome outcome)
    {
        using var stream = new System.IO.MemoryStream();
        var emit = outcome.Output.Emit(stream);
        Assert.True(emit.Success, GeneratorHarness.Describe(emit.Diagnostics));
        return Assembly.Load(stream.ToArray());
    }
}
