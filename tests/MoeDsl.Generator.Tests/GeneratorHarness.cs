using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace MoeDsl.Generator.Tests;

/// <summary>Runs <see cref="MoeModelGenerator"/> with <see cref="CSharpGeneratorDriver"/> over a compilation that references
/// the platform, MoeDsl.Attributes, MoeDsl.Runtime and TorchSharp.</summary>
public static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly CSharpCompilationOptions CompilationOptions = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)
        .WithNullableContextOptions(NullableContextOptions.Enable)
        .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic>
        {
            // The platform references include several versions of some facades; irrelevant here.
            ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress,
        });

    /// <summary>Platform assemblies plus the three MoeDsl-side assemblies, loaded once.</summary>
    public static readonly ImmutableArray<MetadataReference> References = LoadReferences();

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var paths = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string p in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
        {
            string name = Path.GetFileName(p);
            if (name.StartsWith("System.", StringComparison.Ordinal) || name is "mscorlib.dll" or "netstandard.dll" or "System.dll")
                paths.Add(p);
        }
        paths.Add(typeof(MoeModelAttribute).Assembly.Location);
        paths.Add(typeof(MoeDsl.Runtime.Modeling.MoeCausalLM).Assembly.Location);
        paths.Add(typeof(TorchSharp.torch).Assembly.Location);
        return paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
    }

    /// <summary>Router classes that design.md specifies but this build of MoeDsl.Runtime may not contain yet. When the
    /// runtime lacks one, the test compilations get a declaration with the contract's constructor so that the generated
    /// wiring is still compiled and checked; once the runtime has it, the real class is used and this adds nothing.</summary>
    public static string? MissingRouterContracts()
    {
        var asm = typeof(MoeDsl.Runtime.Routing.Router).Assembly;
        var parts = new List<string>();
        void Add(string name, string parameters, string baseArgs)
        {
            if (asm.GetType("MoeDsl.Runtime.Routing." + name) is null)
                parts.Add($$"""
                    public sealed class {{name}} : global::MoeDsl.Runtime.Routing.Router
                    {
                        public {{name}}({{parameters}}) : base("moe_gate", experts, {{baseArgs}}) { }
                        public override global::MoeDsl.Runtime.Routing.RoutingDecision forward(global::TorchSharp.torch.Tensor x) => throw new global::System.NotSupportedException();
                    }
                    """);
        }
        Add("TopPRouter", "int inFeatures, int experts, double topP, double jitterNoise = 0, double initStd = 0.02", "jitterNoise");
        Add("SwitchRouter", "int inFeatures, int experts, double capacityFactor, double jitterNoise = 0, double initStd = 0.02", "jitterNoise");
        Add("SoftRouter", "int inFeatures, int experts, double jitterNoise = 0, double initStd = 0.02", "jitterNoise");
        Add("GraphRouter", "int inFeatures, int experts, int topK, int graphHidden, int graphLayers, double density, double poissonLambda, long seed", "0");
        if (parts.Count == 0) return null;
        return "#pragma warning disable CS1591\nnamespace MoeDsl.Runtime.Routing\n{\n" + string.Join("\n", parts) + "\n}\n";
    }

    private static readonly string? Contracts = MissingRouterContracts();

    public static SyntaxTree Parse(string source, string path = "Model.cs")
        => CSharpSyntaxTree.ParseText(source, ParseOptions, path);

    public static CSharpCompilation CreateCompilation(params SyntaxTree[] trees)
    {
        var all = trees.ToList();
        if (Contracts is not null) all.Add(Parse(Contracts, "RouterContracts.cs"));
        return CSharpCompilation.Create("Consumer", all, References, CompilationOptions);
    }

    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText>? additionalFiles = null, bool trackSteps = true)
        => CSharpGeneratorDriver.Create(
            new[] { new MoeModelGenerator().AsSourceGenerator() },
            additionalTexts: additionalFiles,
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>One generator run plus the compilation with the generated files.</summary>
    public sealed record RunOutcome(GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics)
    {
        public IEnumerable<Diagnostic> MoeDiagnostics => GeneratorDiagnostics.Where(d => d.Id.StartsWith("MOE", StringComparison.Ordinal));

        /// <summary>Compiler diagnostics (errors and warnings) of the output compilation.</summary>
        public IEnumerable<Diagnostic> CompilerProblems => Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning);

        /// <summary>The generated model classes (every source but the assembly's registry of declared models).</summary>
        public IEnumerable<GeneratedSourceResult> ModelSources
            => Result.Results.Single().GeneratedSources.Where(s => s.HintName != RegistryHintName);

        public string GeneratedSource(string hintName)
            => Result.Results.Single().GeneratedSources.Single(s => s.HintName == hintName).SourceText.ToString();
    }

    /// <summary>Hint name of the registry of declared models the generator adds to every assembly with declarations.</summary>
    public const string RegistryHintName = "MoeDsl.DeclaredModels.g.cs";

    /// <summary>The generated trees except the registry.</summary>
    public static IEnumerable<SyntaxTree> ModelTrees(GeneratorDriverRunResult result)
        => result.GeneratedTrees.Where(t => System.IO.Path.GetFileName(t.FilePath) != RegistryHintName);

    public static RunOutcome Run(string source, params (string Path, string Text)[] additionalFiles)
        => RunInProject(source, null, additionalFiles);

    /// <summary><see cref="Run"/> in a project whose folder is <paramref name="projectDirectory"/> (MSBuild's ProjectDir,
    /// as the SDK passes it to generators: build_property.ProjectDir, with a trailing separator); null passes none.</summary>
    public static RunOutcome RunInProject(string source, string? projectDirectory, params (string Path, string Text)[] additionalFiles)
    {
        CSharpCompilation compilation = CreateCompilation(Parse(source));
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            new[] { new MoeModelGenerator().AsSourceGenerator() },
            additionalTexts: additionalFiles.Select(f => (AdditionalText)new InMemoryAdditionalText(f.Path, f.Text)),
            parseOptions: ParseOptions,
            optionsProvider: projectDirectory is null ? null : new BuildProperties("build_property.ProjectDir", projectDirectory),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        GeneratorDriverRunResult result = driver.GetRunResult();
        foreach (GeneratorRunResult r in result.Results)
            Assert.Null(r.Exception);
        return new RunOutcome(result, output, diagnostics);
    }

    /// <summary>Analyzer options with one global (build property) value, as MSBuild writes them to the .editorconfig.</summary>
    private sealed class BuildProperties(string key, string value) : Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptionsProvider
    {
        private sealed class Options(Dictionary<string, string> values) : Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
        }

        private static readonly Options Empty = new(new Dictionary<string, string>());

        public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GlobalOptions { get; } = new Options(new Dictionary<string, string> { [key] = value });

        public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Empty;

        public override Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Empty;
    }

    /// <summary>An AdditionalFiles item held in memory.</summary>
    public sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }

    public static string Describe(IEnumerable<Diagnostic> diagnostics)
        => string.Join(Environment.NewLine, diagnostics.Select(d => d.ToString()));
}
