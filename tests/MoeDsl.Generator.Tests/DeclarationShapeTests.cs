using System.Linq;

namespace MoeDsl.Generator.Tests;

/// <summary>Declarations outside a namespace, nested in partial types (class, struct, record), named with a keyword, and
/// split over partial declarations generate code that compiles cleanly.</summary>
public class DeclarationShapeTests
{
    private const string Attributes = """
        [MoeModel(Placement = ExpertPlacement.EveryProjection)]
        [BaseModel(Layers = 4, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
        [ExpertsPerLayer(2, 4)]
        [Router(RouterKind.TopK, TopK = 2)]
        [Lora(Rank = 4)]
        """;

    [Theory]
    [InlineData("using MoeDsl;\n{0}\ninternal partial class GlobalModel {{ }}", "GlobalModel.g.cs")]
    [InlineData("using MoeDsl;\nnamespace A.B {{ internal partial class Outer {{ internal partial struct Mid {{ internal partial record Inner {{ {0}\ninternal partial class Deep {{ }} }} }} }} }}", "A.B.Outer.Mid.Inner.Deep.g.cs")]
    [InlineData("using MoeDsl;\nnamespace N {{ {0}\ninternal partial class @event {{ }} }}", "N.event.g.cs")]
    [InlineData("using MoeDsl;\nnamespace N {{ [MoeModel(Placement = ExpertPlacement.EveryProjection)]\n[Lora(Rank = 4)]\ninternal partial class Split {{ }}\n[BaseModel(Layers = 4, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]\n[ExpertsPerLayer(2, 4)]\n[Router(RouterKind.TopK)]\ninternal partial class Split {{ }} }}", "N.Split.g.cs")]
    public void GeneratesAndCompiles(string template, string hintName)
    {
        var outcome = GeneratorHarness.Run(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, Attributes));
        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Equal(hintName, outcome.ModelSources.Single().HintName);
        Assert.Empty(outcome.CompilerProblems);
    }
}
