using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Modeling;

/// <summary>The run-time wiring (SpecModel, used by the CLI for --method) and the generator's compile-time wiring build
/// the same model: same parameter and buffer names, shapes and, from the same seed, the same initial values.</summary>
[Collection(nameof(SerialTests))]
public sealed class SpecModelTests
{
    public static IEnumerable<object[]> Declarations() => new[]
    {
        new object[] { "mixlora" }, new object[] { "mola" }, new object[] { "lora" }, new object[] { "gmoe" },
        new object[] { "switch" }, new object[] { "topp" }, new object[] { "soft" }, new object[] { "graph-default" },
    };

    private static (Func<MoeCausalLM> Generated, ModelSpec Spec, long Declared) Pick(string name) => name switch
    {
        "mixlora" => (() => StoriesMixLora.Create(TestModels.StoriesShape), StoriesMixLora.Spec, StoriesMixLora.TrainableParameters),
        "mola" => (() => StoriesMola.Create(TestModels.StoriesShape), StoriesMola.Spec, StoriesMola.TrainableParameters),
        "lora" => (() => StoriesLora.Create(TestModels.StoriesShape), StoriesLora.Spec, StoriesLora.TrainableParameters),
        "gmoe" => (() => StoriesGmoe.Create(TestModels.StoriesShape), StoriesGmoe.Spec, StoriesGmoe.TrainableParameters),
        "switch" => (() => StoriesSwitch.Create(TestModels.StoriesShape), StoriesSwitch.Spec, StoriesSwitch.TrainableParameters),
        "topp" => (() => StoriesTopP.Create(TestModels.StoriesShape), StoriesTopP.Spec, StoriesTopP.TrainableParameters),
        "graph-default" => (() => StoriesGraphDefault.Create(TestModels.StoriesShape), StoriesGraphDefault.Spec, StoriesGraphDefault.TrainableParameters),
        _ => (() => StoriesSoft.Create(TestModels.StoriesShape), StoriesSoft.Spec, StoriesSoft.TrainableParameters),
    };

    [Theory]
    [MemberData(nameof(Declarations))]
    public void RunTimeWiringEqualsGeneratedWiring(string name)
    {
        var (generated, spec, declared) = Pick(name);
        random.manual_seed(11);
        using MoeCausalLM a = generated();
        random.manual_seed(11);
        using MoeCausalLM b = SpecModel.Create(TestModels.StoriesShape, spec);

        MoeDsl.Tests.SameModules.Assert(a, b);
        Assert.Equal(declared, a.CountAdapterParameters());
        Assert.Equal(declared, b.CountAdapterParameters());
        if (name == "graph-default")
        {
            // By hand, per layer: 3 experts x rank 1 x ((64+172) + (64+172) + (172+64)) = 2,124 LoRA; graph router
            // 2*8*64 (expert and token projections) + 1*8*8 (one GCN layer) + 8 (score) + 2 (lambda, sigma) = 1,098.
            Assert.Equal(5 * (2_124 + 1_098), declared);
        }
    }

    /// <summary>Re-shaping keeps the declared groups (layer l of L in group floor(l n / L), so group g covers layers
    /// [ceil(g L/n), ceil((g+1) L/n))) and refuses what is beyond the layer limit the generator enforces (MOE049), before
    /// anything is allocated.</summary>
    [Fact]
    public void ReshapingSpreadsTheGroupsAndRefusesImpossibleLayerCounts()
    {
        ModelSpec mola = StoriesMola.Spec;   // groups as declared
        var eight = TestModels.StoriesShape with { NumHiddenLayers = 2 * mola.Groups.Count };
        ModelSpec shaped = mola.ShapedTo(eight);
        Assert.Equal(mola.Groups, shaped.Groups);
        Assert.Equal(mola.Groups.SelectMany(g => new[] { g.Experts, g.Experts }), shaped.ExpertsPerLayer);
        Assert.Equal(0, shaped.TrainableParameters);

        // One layer more than 2 per group: the first group takes it (2n + 1 layers: l (n) / (2n + 1) is 0 for l = 0, 1, 2).
        var uneven = TestModels.StoriesShape with { NumHiddenLayers = 2 * mola.Groups.Count + 1 };
        int[] expected = mola.Groups.SelectMany((g, i) => Enumerable.Repeat(g.Experts, i == 0 ? 3 : 2)).ToArray();
        Assert.Equal(expected, mola.ShapedTo(uneven).ExpertsPerLayer);
        var huge = TestModels.StoriesShape with { NumHiddenLayers = int.MaxValue };
        Assert.Contains("more than the 1024", Assert.Throws<ArgumentException>(() => StoriesLora.Spec.ShapedTo(huge)).Message, StringComparison.Ordinal);
    }
}
