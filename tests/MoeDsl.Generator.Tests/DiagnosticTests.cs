using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using MoeDsl.Generator.Diagnostics;
using MoeDsl.Generator.Model;
using MoeDsl.Generator.Validation;

namespace MoeDsl.Generator.Tests;

/// <summary>One test per diagnostic id: the declaration marks the expected span with [| |]; the test asserts the id, the
/// severity and that the diagnostic covers exactly that text (the wrong argument, not the class).</summary>
public class DiagnosticTests
{
    private const string Base = "[BaseModel(Layers = 4, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]";
    private const string Moe = "[ExpertsPerLayer(4)]\n[Router(RouterKind.TopK)]";
    private const string Config = """{ "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512 }""";

    private static string Model(string attributes, string declaration = "public partial class M")
        => $$"""
        using MoeDsl;

        namespace Tests
        {
            /// <summary>A declared model.</summary>
            {{attributes.Replace("\n", "\n    ")}}
            {{declaration}}
            {
            }
        }
        """;

    /// <summary>(id, source with [| |] around the expected location, additional files, message fragment).</summary>
    public static readonly Dictionary<string, (string Source, (string, string)[] Files, string Fragment)> Cases = new()
    {
        ["MOE001"] = (Model($"[MoeModel]\n{Base}\n[Lora]", "public class [|M|]"), Array.Empty<(string, string)>(), "'partial'"),
        ["MOE002"] = (Model($"[MoeModel]\n{Base}\n[Lora]", "public partial class [|M|]<T>"), Array.Empty<(string, string)>(), "type parameters"),
        ["MOE003"] = ("""
            using MoeDsl;
            public class [|Outer|]
            {
                [MoeModel]
                [BaseModel(Layers = 4, Hidden = 64, Intermediate = 172, Heads = 8, KvHeads = 4, Vocab = 512)]
                [Lora]
                public partial class M { }
            }
            """, Array.Empty<(string, string)>(), "'Outer'"),
        ["MOE004"] = (Model($"[MoeModel]\n{Base}\n[Lora]", "public static partial class [|M|]"), Array.Empty<(string, string)>(), "is static"),
        ["MOE005"] = (Model($"[[|MoeModel|]]\n{Base}"), Array.Empty<(string, string)>(), "[Lora]"),
        ["MOE006"] = (Model($"[MoeModel]\n{Base}\n[[|Router(RouterKind.TopK)|]]\n[Lora]"), Array.Empty<(string, string)>(), "no [ExpertsPerLayer]"),
        ["MOE007"] = ($$"""
            using MoeDsl;
            namespace Tests
            {
                [MoeModel]
                {{Base}}
                [Lora(Rank = 4)]
                public partial class M { }
                [[|Lora(Rank = 2)|]]
                public partial class M { }
            }
            """, Array.Empty<(string, string)>(), "[Lora] is applied more than once"),
        ["MOE008"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router([|(RouterKind)9|])]\n[Lora]"), Array.Empty<(string, string)>(), "not a defined RouterKind"),
        ["MOE009"] = (Model($"[MoeModel]\n{Base}\n[Lora(Rank = 4, [|Alpha = double.NaN|])]"), Array.Empty<(string, string)>(), "Alpha is NaN"),
        ["MOE010"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer([|new int[0]|])]\n[Router(RouterKind.TopK)]\n[Lora]"), Array.Empty<(string, string)>(), "no expert counts"),
        ["MOE011"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(2, [|0|], 2, 2)]\n[Router(RouterKind.TopK, TopK = 1)]\n[Lora]"), Array.Empty<(string, string)>(), "Expert count 0 at position 1"),
        ["MOE012"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer([|2, 2, 2, 2, 2, 2|])]\n[Router(RouterKind.TopK)]\n[Lora]"), Array.Empty<(string, string)>(), "6 counts but the base has 4 layers"),
        ["MOE013"] = (Model("[MoeModel]\n[BaseModel(Layers = 6, Hidden = 64, Intermediate = 172, Heads = 8, Vocab = 512)]\n[ExpertsPerLayer([|2, 4, 6, 8|])]\n[Router(RouterKind.TopK)]\n[Lora]"),
            Array.Empty<(string, string)>(), "divides 6 (1, 2, 3, 6)"),
        ["MOE014"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(2, 4, [|TopK = new[] {{ 1 }}|])]\n[Router(RouterKind.TopK)]\n[Lora]"), Array.Empty<(string, string)>(), "TopK gives 1 values but there are 2"),
        ["MOE015"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(2, 4, Ranks = new[] {{ 4, [|0|] }})]\n[Router(RouterKind.TopK)]\n[Lora]"), Array.Empty<(string, string)>(), "Ranks value 0 at position 1"),
        ["MOE016"] = (Model($"[MoeModel]\n{Base}\n[Lora]", "file partial class [|M|]"), Array.Empty<(string, string)>(), "'M' is declared 'file'"),
        ["MOE017"] = ($$"""
            using MoeDsl;
            namespace Tests
            {
                [MoeModel]
                {{Base}}
                [Lora]
                public partial class M
                {
                    internal int [|Layers|] => 3;
                }
            }
            """, Array.Empty<(string, string)>(), "'M' declares the property Layers, but the generator also declares the constant Layers in 'M'"),
        ["MOE018"] = ($$"""
            using MoeDsl;
            public partial class Outer<T>
            {
                [MoeModel]
                {{Base}}
                [Lora]
                public partial class [|M|] { }
            }
            """, Array.Empty<(string, string)>(), "'M' is nested in generic type 'Outer<T>'"),
        ["MOE020"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.TopK, [|TopK = 0|])]\n[Lora]"), Array.Empty<(string, string)>(), "TopK = 0"),
        ["MOE021"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(8, 8, 4, 4)]\n[Router(RouterKind.TopK, [|TopK = 6|])]\n[Lora]"), Array.Empty<(string, string)>(), "Top-k 6 exceeds the 4 experts of layer 2"),
        ["MOE022"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.TopP, [|TopP = 1.5|])]\n[Lora]"), Array.Empty<(string, string)>(), "TopP = 1.5"),
        ["MOE023"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Switch, [|TopK = 2|])]\n[Lora]"), Array.Empty<(string, string)>(), "TopK = 2 was given"),
        ["MOE024"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(2, [|1|])]\n[Router(RouterKind.Graph, TopK = 1)]\n[Lora]"), Array.Empty<(string, string)>(), "layer 2 has 1"),
        ["MOE025"] = (Model($"[MoeModel([|Placement = ExpertPlacement.EveryProjection|])]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Graph)]\n[Lora]"), Array.Empty<(string, string)>(), "EveryProjection"),
        ["MOE026"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Graph, [|GraphLayers = 0|])]\n[Lora]"), Array.Empty<(string, string)>(), "GraphLayers = 0"),
        ["MOE027"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Graph, [|GraphDensity = 0|])]\n[Lora]"), Array.Empty<(string, string)>(), "GraphDensity = 0"),
        ["MOE028"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Switch, [|CapacityFactor = 0|])]\n[Lora]"), Array.Empty<(string, string)>(), "CapacityFactor = 0"),
        ["MOE029"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.TopK, [|JitterNoise = 1|])]\n[Lora]"), Array.Empty<(string, string)>(), "JitterNoise = 1"),
        ["MOE030"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Switch, [|ZLossCoefficient = -1|])]\n[Lora]"), Array.Empty<(string, string)>(), "ZLossCoefficient = -1"),
        ["MOE031"] = (Model($"[MoeModel]\n{Base}\n[Lora([|Rank = 0|])]"), Array.Empty<(string, string)>(), "Rank = 0"),
        ["MOE032"] = (Model($"[MoeModel]\n{Base}\n[Lora([|Alpha = 0|])]"), Array.Empty<(string, string)>(), "Alpha = 0"),
        ["MOE033"] = (Model($"[MoeModel]\n{Base}\n[Lora([|Dropout = 1|])]"), Array.Empty<(string, string)>(), "Dropout = 1"),
        ["MOE034"] = (Model($"[MoeModel]\n{Base}\n[Lora([|Targets = LoraTargets.None|])]"), Array.Empty<(string, string)>(), "selects no projection"),
        ["MOE035"] = (Model($"[MoeModel]\n{Base}\n{Moe}\n[Lora([|Targets = LoraTargets.Attention|])]"), Array.Empty<(string, string)>(), "none of Gate, Up, Down"),
        ["MOE036"] = (Model($"[MoeModel]\n{Base}\n{Moe}\n[Lora([|Targets = LoraTargets.Gate | LoraTargets.Up|])]"), Array.Empty<(string, string)>(), "leaves out Down"),
        ["MOE040"] = (Model("[MoeModel]\n[BaseModel(Layers = 4, [|Hidden = -64|], Intermediate = 172, Heads = 8, Vocab = 512)]\n[Lora]"), Array.Empty<(string, string)>(), "Hidden = -64"),
        ["MOE041"] = (Model("[MoeModel]\n[BaseModel(Layers = 4, Hidden = 64, Intermediate = 172, [|Heads = 6|], Vocab = 512)]\n[Lora]"), Array.Empty<(string, string)>(), "Hidden = 64 is not divisible by Heads = 6"),
        ["MOE042"] = (Model("[MoeModel]\n[BaseModel(Layers = 4, Hidden = 64, Intermediate = 172, Heads = 8, [|KvHeads = 3|], Vocab = 512)]\n[Lora]"), Array.Empty<(string, string)>(), "KvHeads = 3"),
        ["MOE043"] = (Model("[MoeModel]\n[BaseModel(Layers = 4, [|Hidden = 24|], Intermediate = 172, Heads = 8, Vocab = 512)]\n[Lora]"), Array.Empty<(string, string)>(), "head dimension 3 is odd"),
        ["MOE044"] = (Model("[MoeModel]\n[BaseModel([|ConfigFile = \"missing/config.json\"|])]\n[Lora]"), new[] { ("/p/models/config.json", Config) }, "\"missing/config.json\""),
        ["MOE045"] = (Model("[MoeModel]\n[BaseModel([|ConfigFile = \"config.json\"|])]\n[Lora]"), new[] { ("/p/config.json", "{ \"hidden_size\": 64, }") }, "expected a property name"),
        ["MOE046"] = (Model("[MoeModel]\n[BaseModel([|ConfigFile = \"config.json\"|])]\n[Lora]"), new[] { ("/p/config.json", Config.Replace("\"vocab_size\": 512", "\"vocab_size\": \"512\"")) }, "\"vocab_size\" must be an integer, got a string"),
        ["MOE047"] = (Model("[MoeModel]\n[BaseModel(ConfigFile = \"config.json\", [|Layers = 6|])]\n[Lora]"), new[] { ("/p/config.json", Config) }, "says num_hidden_layers = 5"),
        ["MOE048"] = (Model("[[|MoeModel|]]\n[BaseModel(Layers = 4, Hidden = 2000000000, Intermediate = 2000000000, Heads = 1000, Vocab = 512)]\n[ExpertsPerLayer(2000000000)]\n[Router(RouterKind.TopK)]\n[Lora(Rank = 2000000000)]"),
            Array.Empty<(string, string)>(), "2^63"),
        ["MOE049"] = (Model("[MoeModel]\n[BaseModel([|Layers = 2000000000|], Hidden = 64, Intermediate = 172, Heads = 8, Vocab = 512)]\n[Lora]"), Array.Empty<(string, string)>(), "maximum of 1024"),
        ["MOE050"] = (Model($"[MoeModel([|ReportParameters = true|])]\n{Base}\n[Lora(Rank = 4, Targets = LoraTargets.Q)]"), Array.Empty<(string, string)>(), "layers 0-3: plain LoRA rank 4: 512 trainable parameters per layer (2,048 in all)"),
        ["MOE051"] = (Model($"[MoeModel]\n{Base}\n{Moe}\n[Lora]\n[LoadBalance([|0|])]"), Array.Empty<(string, string)>(), "coefficient 0"),
        ["MOE052"] = (Model($"[MoeModel]\n{Base}\n{Moe}\n[Lora]\n[[|GraphLosses|]]"), Array.Empty<(string, string)>(), "uses RouterKind.TopK"),
        ["MOE053"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Graph)]\n[Lora]\n[GraphLosses([|Lambda = 3|])]"), Array.Empty<(string, string)>(), "Lambda = 3 is outside [1, 2]"),
        ["MOE054"] = (Model("[MoeModel]\n[BaseModel([|ConfigFile = \"config.json\"|])]\n[Lora]"), new[] { ("/p/models/b/config.json", Config), ("/p/models/a/config.json", Config) },
            "matches 2 AdditionalFiles items, among them \"/p/models/a/config.json\" and \"/p/models/b/config.json\""),
        ["MOE060"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer([|40|])]\n[Router(RouterKind.TopK)]\n[Lora(Rank = 4)]"), Array.Empty<(string, string)>(), "Layer 0 has 40 experts at LoRA rank 4"),
        ["MOE061"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Graph)]\n[Lora]\n[[|GraphLosses(Poisson = 0, Normal = 0)|]]"), Array.Empty<(string, string)>(), "Poisson = 0 and Normal = 0"),
        ["MOE062"] = (Model($"[MoeModel]\n{Base}\n[Lora]\n[[|LoadBalance|]]"), Array.Empty<(string, string)>(), "no router"),
        ["MOE063"] = (Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.Soft, [|TopK = 3|])]\n[Lora]"), Array.Empty<(string, string)>(), "TopK has no effect with RouterKind.Soft"),
        ["MOE072"] = (Model("[MoeModel]\n[BaseModel([|ConfigFile = \"config.json\"|])]\n[Lora]"), new[] { ("/p/config.json", Config.Replace("{", "{ \"model_type\": \"mixtral\",")) },
            "model_type \"mixtral\", a family MoeDsl.Runtime does not build; it builds llama, mistral, qwen2, qwen3, gemma, gemma2, phi3"),
        ["MOE073"] = (Model("[MoeModel]\n[BaseModel([|ConfigFile = \"config.json\"|])]\n[Lora]"), new[] { ("/p/config.json", Config.Replace("{", "{ \"model_type\": \"llama\", \"rope_scaling\": { \"factor\": 4.0, \"rope_type\": \"yarn\" },")) },
            "rope_scaling.rope_type \"yarn\" (llama) is not implemented by MoeDsl.Runtime; it implements default, linear, llama3"),
    };

    public static TheoryData<string> Ids()
    {
        var data = new TheoryData<string>();
        foreach (string id in Cases.Keys) data.Add(id);
        return data;
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void DiagnosticIsReportedOnTheWrongArgument(string id)
    {
        var (markup, files, fragment) = Cases[id];
        var (source, expected) = StripMarkup(markup);
        var outcome = GeneratorHarness.Run(source, files);
        AssertReported(id, outcome.MoeDiagnostics.ToList(), source, expected, fragment);
    }

    [Fact]
    public void EveryCatalogIdHasATest()
    {
        var ids = DiagnosticCatalog.All.Select(d => d.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var tested = Cases.Keys.Concat(new[] { "MOE000", "MOE070", "MOE071" }).Concat(DeclarationSpecTests.SpecOnlyIds).ToHashSet();
        Assert.DoesNotContain(ids, i => !tested.Contains(i));
    }

    [Fact]
    public void RuntimeNotReferenced_MOE070()
    {
        var (source, expected) = StripMarkup(Model($"[[|MoeModel|]]\n{Base}\n[Lora]"));
        var refs = GeneratorHarness.References.Where(r => !r.Display!.Contains("MoeDsl.Runtime", StringComparison.Ordinal) && !r.Display!.Contains("TorchSharp", StringComparison.Ordinal));
        var compilation = CSharpCompilation.Create("NoRuntime", new[] { GeneratorHarness.Parse(source) }, refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        var result = driver.GetRunResult();
        Assert.Null(result.Results.Single().Exception);
        Assert.Empty(result.GeneratedTrees);
        AssertReported("MOE070", result.Diagnostics.ToList(), source, expected, "MoeCausalLM was not found");
    }

    [Fact]
    public void RouterNotAvailable_MOE071()
    {
        // A runtime surface with the model base class but none of the newer routers (Soft among them).
        var (source, expected) = StripMarkup(Model($"[MoeModel]\n{Base}\n[ExpertsPerLayer(4)]\n[Router([|RouterKind.Soft|])]\n[Lora]"));
        var refs = GeneratorHarness.References.Where(r => !r.Display!.Contains("MoeDsl.Runtime", StringComparison.Ordinal));
        var surface = GeneratorHarness.Parse("namespace MoeDsl.Runtime.Modeling { public abstract class MoeCausalLM { } }", "Surface.cs");
        var compilation = CSharpCompilation.Create("OldRuntime", new[] { GeneratorHarness.Parse(source), surface }, refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var result = GeneratorHarness.CreateDriver().RunGenerators(compilation).GetRunResult();
        Assert.Null(result.Results.Single().Exception);
        Assert.Empty(result.GeneratedTrees);
        AssertReported("MOE071", result.Diagnostics.ToList(), source, expected, "RouterKind.Soft is not available");
    }

    [Fact]
    public void InternalErrorBecomesADiagnostic_MOE000()
    {
        var location = new LocationInfo("M.cs", new Microsoft.CodeAnalysis.Text.TextSpan(10, 1), default);
        var parsed = new ParsedDeclaration(null, "M", "M.g.cs", location, "class", true, false, false, false, null,
            EquatableArray<ContainingTypeInfo>.Empty, EquatableArray<ParsedAttribute>.Empty, "InvalidOperationException: boom");
        var result = Validator.Analyze(parsed, new AdditionalFiles(null, EquatableArray<AdditionalFileInfo>.Empty), new RuntimeInfo(true, true, true, true, true), default);
        Assert.Null(result.Model);
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal("MOE000", d.Descriptor.Id);
        Assert.Equal(location, d.Location);
        Assert.Contains("boom", d.ToDiagnostic().GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorsSuppressGenerationButWarningsDoNot()
    {
        var (bad, _) = StripMarkup(Cases["MOE031"].Source);
        Assert.Empty(GeneratorHarness.Run(bad).Result.GeneratedTrees);
        var (warned, _) = StripMarkup(Cases["MOE063"].Source);
        var outcome = GeneratorHarness.Run(warned);
        Assert.Single(GeneratorHarness.ModelTrees(outcome.Result));
        Assert.Empty(outcome.CompilerProblems);
    }

    [Theory]
    [InlineData("[ExpertsPerLayer(\"x\")]\n[Router(RouterKind.TopK)]\n[Lora]")]
    [InlineData("[Lora(Rank = 1.5)]")]
    [InlineData("[Lora(Ranks = 2)]")]
    [InlineData("[ExpertsPerLayer(4)]\n[Router(RouterKind.TopK, TopK = \"2\")]\n[Lora]")]
    [InlineData("[ExpertsPerLayer(4)]\n[Router()]\n[Lora]")]
    [InlineData("[ExpertsPerLayer(4)]\n[Router(RouterKind.TopK, TopP = null)]\n[Lora(Targets = 3)]")]
    public void GarbageArgumentsAreLeftToTheCompiler(string attributes)
    {
        var outcome = GeneratorHarness.Run(Model($"[MoeModel]\n{Base}\n{attributes}"));
        Assert.Empty(outcome.Result.GeneratedTrees);
        Assert.Contains(outcome.Output.GetDiagnostics(), d => d.Severity == DiagnosticSeverity.Error);
    }

    /// <summary>The class rules that replace a compiler error in generated code (or a silently wrong completion) by
    /// one MOE error: reported on the exact span, nothing generated (no model source, no registry entry), and no compiler
    /// error left anywhere.</summary>
    [Theory]
    [InlineData("MOE016")]
    [InlineData("MOE017")]
    [InlineData("MOE018")]
    public void ClassRuleErrorGeneratesNothingAndLeavesNoCompilerError(string id)
    {
        var (markup, files, fragment) = Cases[id];
        var (source, expected) = StripMarkup(markup);
        var outcome = GeneratorHarness.Run(source, files);
        AssertReported(id, outcome.MoeDiagnostics.ToList(), source, expected, fragment);
        Assert.Equal(DiagnosticSeverity.Error, DiagnosticCatalog.Get(id).DefaultSeverity);
        Assert.Empty(outcome.Result.GeneratedTrees);
        AssertNoCompilerErrors(outcome);
    }

    private static void AssertNoCompilerErrors(GeneratorHarness.RunOutcome outcome)
    {
        var errors = outcome.Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, "compiler errors:\n" + GeneratorHarness.Describe(errors));
    }

    /// <summary>A model class itself generic gets MOE002 (its type parameters); one nested in a generic type gets MOE018,
    /// which names the container; both when both are generic.</summary>
    [Theory]
    [InlineData("public partial class Outer { [MoeModel] BASE [Lora] public partial class M<U> { } }", "MOE002", "MOE018")]
    [InlineData("public partial class Outer<T> { [MoeModel] BASE [Lora] public partial class M { } }", "MOE018", "MOE002")]
    [InlineData("public partial class Outer<T, V> { public partial class Mid { [MoeModel] BASE [Lora] public partial class M { } } }", "MOE018", "MOE002")]
    [InlineData("public partial class Outer<T> { [MoeModel] BASE [Lora] public partial class M<U> { } }", "MOE002 MOE018", null)]
    public void GenericClassAndGenericContainerAreToldApart(string declaration, string reported, string? notReported)
    {
        var outcome = GeneratorHarness.Run("using MoeDsl;\n" + declaration.Replace("BASE", Base, StringComparison.Ordinal));
        var ids = outcome.MoeDiagnostics.Select(d => d.Id).ToList();
        foreach (string id in reported.Split(' ')) Assert.Contains(id, ids);
        if (notReported is not null) Assert.DoesNotContain(notReported, ids);
        Assert.Empty(outcome.Result.GeneratedTrees);
        if (ids.Contains("MOE018"))
        {
            string message = outcome.MoeDiagnostics.First(d => d.Id == "MOE018").GetMessage(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains(declaration.Contains("Outer<T, V>", StringComparison.Ordinal) ? "generic type 'Outer<T, V>'" : "generic type 'Outer<T>'", message, StringComparison.Ordinal);
        }
    }

    /// <summary>A file-local containing type makes the model file-local too: MOE016 on the container.</summary>
    [Fact]
    public void ModelNestedInAFileLocalTypeIsDiagnosed_MOE016()
    {
        var (source, expected) = StripMarkup($"using MoeDsl;\nnamespace Tests\n{{\n    file partial class [|Outer|]\n    {{\n        [MoeModel]\n        {Base}\n        [Lora]\n        internal partial class M {{ }}\n    }}\n}}\n");
        var outcome = GeneratorHarness.Run(source);
        AssertReported("MOE016", outcome.MoeDiagnostics.ToList(), source, expected, "'M' is nested in file-local type 'Outer'");
        Assert.Empty(outcome.Result.GeneratedTrees);
        AssertNoCompilerErrors(outcome);
    }

    /// <summary>A file class beside a valid model: the valid one is generated and is the only entry of the registry.</summary>
    [Fact]
    public void FileClassIsLeftOutOfTheRegistry_MOE016()
    {
        string source = $"using MoeDsl;\nnamespace Tests\n{{\n    [MoeModel]\n    {Base}\n    [Lora]\n    file partial class Hidden {{ }}\n\n"
            + $"    [MoeModel]\n    {Base}\n    [Lora]\n    internal partial class Shown {{ }}\n}}\n";
        var outcome = GeneratorHarness.Run(source);
        Assert.Equal("MOE016", Assert.Single(outcome.MoeDiagnostics).Id);
        Assert.Equal("Tests.Shown.g.cs", Assert.Single(outcome.ModelSources).HintName);
        string registry = outcome.GeneratedSource(GeneratorHarness.RegistryHintName);
        Assert.Contains("typeof(global::Tests.Shown)", registry, StringComparison.Ordinal);
        Assert.DoesNotContain("Hidden", registry, StringComparison.Ordinal);
        AssertNoCompilerErrors(outcome);
    }

    /// <summary>Every member the emitter writes (GeneratedMembers.All, the emitter's own list): a user member of that name
    /// (and, for a method, those parameter types) is MOE017 on the user's member, and nothing is generated.</summary>
    public static TheoryData<string> GeneratedMemberNames()
    {
        var data = new TheoryData<string>();
        foreach (var member in MoeDsl.Generator.Emitting.GeneratedMembers.All) data.Add(member.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(GeneratedMemberNames))]
    public void UserMemberNamedLikeAGeneratedOneIsReportedOnTheUsersMember_MOE017(string name)
    {
        string member = name switch
        {
            "ExpertsInLayer" => "internal static int [|ExpertsInLayer|](int layer) => layer;",
            "FromPretrained" => "internal static M [|FromPretrained|](string directory, TorchSharp.torch.Device? device, TorchSharp.torch.ScalarType? baseDType) => throw new System.NotSupportedException();",
            "Create" => "internal static M [|Create|](MoeDsl.Runtime.IO.LlamaConfig config) => throw new System.NotSupportedException();",
            ".ctor" => "private [|M|](MoeDsl.Runtime.IO.LlamaConfig config) { System.GC.KeepAlive(config); }",
            "Spec" => "internal static string [|Spec|] { get; } = \"mine\";",
            _ => $"internal const int [|{name}|] = 1;",
        };
        var (source, expected) = StripMarkup($"using MoeDsl;\nnamespace Tests\n{{\n    [MoeModel]\n    {Base}\n    [Lora]\n    internal partial class M\n    {{\n        {member}\n    }}\n}}\n");
        var outcome = GeneratorHarness.Run(source);
        string generatedDescription = MoeDsl.Generator.Emitting.GeneratedMembers.All.Single(g => g.Name == name).Description;
        AssertReported("MOE017", outcome.MoeDiagnostics.ToList(), source, expected, "but the generator also declares " + generatedDescription);
        Assert.Empty(outcome.Result.GeneratedTrees);
        AssertNoCompilerErrors(outcome);
    }

    /// <summary>What does not clash is not reported: overloads with other parameters, other names, explicit interface
    /// implementations; the model is generated and compiles (the same members reached CS0102/CS0111 before).</summary>
    [Fact]
    public void OverloadsAndOtherNamesDoNotClash_MOE017()
    {
        string source = $$"""
            using MoeDsl;
            namespace Tests
            {
                internal interface ISized { int Layers { get; } }

                [MoeModel]
                {{Base}}
                [Lora]
                internal partial class M : ISized
                {
                    int ISized.Layers => Layers;
                    internal static int ExpertsInLayer(string name) => name.Length;
                    internal static M Create(int seed) => throw new System.NotSupportedException(seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    internal static M FromPretrained(string directory) => FromPretrained(directory, null);
                    internal static M FromPretrained(string directory, TorchSharp.torch.Device? device) => FromPretrained(directory, device, null);
                    internal static T Create<T>(MoeDsl.Runtime.IO.LlamaConfig config) where T : class => throw new System.NotSupportedException(config.ToString());
                    internal int LayerCount => Layers;
                }
            }
            """;
        var outcome = GeneratorHarness.Run(source);
        Assert.DoesNotContain(outcome.MoeDiagnostics, d => d.Id == "MOE017");
        Assert.Single(outcome.ModelSources);
        AssertNoCompilerErrors(outcome);
    }

    /// <summary>MOE017's help (the docs' fix line) lists the members by hand: it names every entry of the emitter's list.</summary>
    [Fact]
    public void MemberClashHelpNamesEveryGeneratedMember_MOE017()
    {
        string help = DiagnosticDescriptors.MemberClash.Help;
        foreach (var member in MoeDsl.Generator.Emitting.GeneratedMembers.All)
            Assert.Contains(member.Name == MoeDsl.Generator.Emitting.GeneratedMembers.Constructor ? "constructor taking a LlamaConfig" : member.Name, help, StringComparison.Ordinal);
    }

    /// <summary>The clashing member may sit in another partial declaration, in another file: reported there.</summary>
    [Fact]
    public void ClashInAnotherPartialDeclarationIsReportedThere_MOE017()
    {
        string first = $"using MoeDsl;\nnamespace Tests\n{{\n    [MoeModel]\n    {Base}\n    [Lora]\n    internal partial class M {{ }}\n}}\n";
        var (second, expected) = StripMarkup("namespace Tests\n{\n    internal partial class M\n    {\n        internal static object? [|Spec|];\n    }\n}\n");
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(first, "M.cs"), GeneratorHarness.Parse(second, "M.Members.cs"));
        var driver = GeneratorHarness.CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out var diagnostics);
        var d = Assert.Single(diagnostics, x => x.Id == "MOE017");
        Assert.Equal("M.Members.cs", d.Location.GetLineSpan().Path);
        Assert.Equal(expected, second.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        Assert.Contains("the field Spec", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Empty(driver.GetRunResult().GeneratedTrees);
        Assert.DoesNotContain(output.GetDiagnostics(), x => x.Severity == DiagnosticSeverity.Error);
    }

    private static void AssertReported(string id, List<Diagnostic> diagnostics, string source, string expectedText, string fragment)
    {
        var matching = diagnostics.Where(d => d.Id == id).ToList();
        Assert.True(matching.Count > 0, $"{id} was not reported; got:\n{GeneratorHarness.Describe(diagnostics)}");
        var d = matching[0];
        string covered = source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length);
        Assert.Equal(expectedText, covered);
        string message = d.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(fragment, message, StringComparison.Ordinal);
        // Severity and help link as the catalog declares them for this id (the descriptor reported is the catalog's).
        DiagnosticDescriptor declared = DiagnosticCatalog.Get(id);
        Assert.Same(declared, d.Descriptor);
        Assert.Equal(declared.DefaultSeverity, d.Severity);
        Assert.Equal(DiagnosticDescriptors.HelpLink(id), d.Descriptor.HelpLinkUri);
        // The line span agrees with the span (the IDE places the squiggle from it).
        var line = d.Location.GetLineSpan().Span.Start;
        var lines = source.Split('\n');
        int offset = lines.Take(line.Line).Sum(l => l.Length + 1) + line.Character;
        Assert.Equal(d.Location.SourceSpan.Start, offset);
    }

    internal static (string Source, string Expected) StripMarkup(string markup)
    {
        int start = markup.IndexOf("[|", StringComparison.Ordinal);
        int end = markup.IndexOf("|]", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "the case has no [| |] markup");
        string expected = markup.Substring(start + 2, end - start - 2);
        return (markup.Remove(end, 2).Remove(start, 2), expected);
    }
}
