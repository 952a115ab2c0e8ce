using System.Linq;
using Microsoft.CodeAnalysis;

namespace MoeDsl.Generator.Tests.Emitting;

/// <summary>The generated trainer of each declaration kind: <c>TrainingOptions</c> derives from the runtime's
/// <c>FineTuneOptions</c> and adds exactly the settings that declaration has — read from the compiled output's symbols,
/// with the defaults the initialisers give — and <c>FineTune</c> takes that record.</summary>
public class TrainerEmissionTests
{
    private const string Base = "[BaseModel(Layers = 4, Hidden = 64, Intermediate = 128, Heads = 4, Vocab = 100)]";

    public static TheoryData<string, string, string> Cases() => new()
    {
        // attributes after [MoeModel] and [BaseModel], expected "Name=default" list (declaration order)
        { "plain LoRA", "[Lora]", "" },
        { "TopK mixture", "[ExpertsPerLayer(4)] [Router(RouterKind.TopK, TopK = 2)] [Lora]", "RouterWeightDecay" },
        { "load balance", "[ExpertsPerLayer(4)] [Router(RouterKind.TopK, TopK = 2)] [Lora] [LoadBalance(0.02)]", "RouterWeightDecay, LoadBalance=0.02" },
        { "Switch", "[ExpertsPerLayer(4)] [Router(RouterKind.Switch, ZLossCoefficient = 0.003)] [Lora]", "RouterWeightDecay, RouterZLoss=0.003" },
        { "Graph, defaults", "[ExpertsPerLayer(4)] [Router(RouterKind.Graph, TopK = 2)] [Lora]", "RouterWeightDecay, GraphPoisson=0.005, GraphNormal=8.0" },
        { "Graph, declared", "[ExpertsPerLayer(4)] [Router(RouterKind.Graph, TopK = 2)] [Lora] [GraphLosses(Poisson = 0.01, Normal = 0)]", "RouterWeightDecay, GraphPoisson=0.01, GraphNormal=0.0" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrainingOptionsCarriesOnlyTheSettingsOfItsDeclaration(string name, string attributes, string expected)
    {
        string source = $"using MoeDsl;\nnamespace Tests\n{{\n    /// <summary>A public model: the generated members must be documented too.</summary>\n    [MoeModel]\n    {Base}\n    {attributes}\n    public partial class M {{ }}\n}}\n";
        var outcome = GeneratorHarness.Run(source);
        Assert.True(!outcome.CompilerProblems.Any(), name + ": " + GeneratorHarness.Describe(outcome.CompilerProblems));
        INamedTypeSymbol model = outcome.Output.GetTypeByMetadataName("Tests.M")!;
        INamedTypeSymbol options = Assert.Single(model.GetTypeMembers("TrainingOptions"));
        Assert.Equal("MoeDsl.Runtime.Api.FineTuneOptions", options.BaseType!.ToDisplayString());
        Assert.True(options.IsSealed && options.IsRecord);

        var declared = options.GetMembers().OfType<IPropertySymbol>().Where(p => !p.IsImplicitlyDeclared && p.Name != "EqualityContract").ToList();
        string actual = string.Join(", ", declared.Select(p => p.Name + Default(p)));
        Assert.Equal(expected, actual);
        Assert.All(declared, p => Assert.Equal(SpecialType.System_Double, p.Type.SpecialType));

        IMethodSymbol fineTune = Assert.Single(model.GetMembers("FineTune").OfType<IMethodSymbol>());
        Assert.Equal(new[] { "MoeDsl.Runtime.Api.TrainingData", "Tests.M.TrainingOptions?" }, fineTune.Parameters.Select(p => p.Type.ToDisplayString()).ToArray());
        Assert.Equal("MoeDsl.Runtime.Training.TrainingRunResult", fineTune.ReturnType.ToDisplayString());
        // Specialise is overridden exactly when there is something to add.
        Assert.Equal(expected.Length > 0, options.GetMembers("Specialise").Any());
    }

    // "=value" from the property's initialiser, "" when it has none (the default 0).
    private static string Default(IPropertySymbol p)
    {
        var syntax = (Microsoft.CodeAnalysis.CSharp.Syntax.PropertyDeclarationSyntax)p.DeclaringSyntaxReferences.Single().GetSyntax();
        return syntax.Initializer is null ? "" : "=" + syntax.Initializer.Value.ToString();
    }
}
