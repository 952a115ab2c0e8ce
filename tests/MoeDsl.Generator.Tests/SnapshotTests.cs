using System;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;

namespace MoeDsl.Generator.Tests;

/// <summary>The emitted code of each snapshot declaration equals its committed baseline (Baselines/NAME.g.cs) and compiles
/// against the real runtime with no errors and no warnings. MOEDSL_UPDATE_BASELINES=1 rewrites the baselines.</summary>
public class SnapshotTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Declarations.Snapshots) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EmittedCodeMatchesBaselineAndCompilesCleanly(string name)
    {
        var (_, source, needsConfig) = Declarations.Snapshots.Single(s => s.Name == name);
        var outcome = needsConfig
            ? GeneratorHarness.Run(source, ("/repo/models/stories260K/config.json", Declarations.Stories260KConfig))
            : GeneratorHarness.Run(source);

        var problems = outcome.GeneratorDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, GeneratorHarness.Describe(problems));
        var compiler = outcome.CompilerProblems.ToList();
        Assert.True(compiler.Count == 0, GeneratorHarness.Describe(compiler));

        var generated = outcome.ModelSources.Single();
        Baseline.AssertMatches(name, generated.SourceText.ToString());
    }

    /// <summary>The assembly's registry lists every declared class, nested and namespaced ones included, sorted by class
    /// name, with typed factories (no reflection), and compiles cleanly; an assembly without declarations gets none.</summary>
    [Fact]
    public void RegistryListsEveryDeclarationAndCompilesCleanly()
    {
        const string attributes = "[BaseModel(Layers = 2, Hidden = 64, Intermediate = 160, Heads = 4, Vocab = 97)]\n[Lora(Rank = 4)]";
        string source = "using MoeDsl;\n"
            + $"namespace B {{ [MoeModel]\n{attributes}\ninternal partial class Zeta {{ }} }}\n"
            + $"namespace A {{ internal partial class Outer {{ [MoeModel]\n{attributes}\n[ExpertsPerLayer(4)]\n[Router(RouterKind.TopK)]\ninternal partial class Alpha {{ }} }} }}\n";
        var outcome = GeneratorHarness.Run(source);
        Assert.Empty(outcome.GeneratorDiagnostics);
        var compiler = outcome.CompilerProblems.ToList();
        Assert.True(compiler.Count == 0, GeneratorHarness.Describe(compiler));
        Baseline.AssertMatches("DeclaredModels", outcome.GeneratedSource(GeneratorHarness.RegistryHintName));

        var none = GeneratorHarness.Run("namespace C { internal class Plain { } }");
        Assert.Empty(none.Result.GeneratedTrees);
    }
}

/// <summary>Compares text with a committed baseline file beside the tests.</summary>
public static class Baseline
{
    public static string Directory([CallerFilePath] string thisFile = "")
        => Path.Combine(Path.GetDirectoryName(thisFile)!, "Baselines");

    public static void AssertMatches(string name, string actual)
    {
        string path = Path.Combine(Directory(), name + ".g.cs");
        if (Environment.GetEnvironmentVariable("MOEDSL_UPDATE_BASELINES") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"Baseline {path} does not exist; run the tests with MOEDSL_UPDATE_BASELINES=1 to create it.");
        string expected = File.ReadAllText(path).Replace("\r\n", "\n");
        string? diff = FirstDifference(expected, actual.Replace("\r\n", "\n"));
        Assert.True(diff is null, $"Generated code differs from baseline {path} (MOEDSL_UPDATE_BASELINES=1 rewrites it):\n{diff}");
    }

    /// <summary>The first differing line with three lines of context, or null when equal.</summary>
    public static string? FirstDifference(string expected, string actual)
    {
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string? el = i < e.Length ? e[i] : null, al = i < a.Length ? a[i] : null;
            if (el == al) continue;
            var sb = new System.Text.StringBuilder();
            for (int j = Math.Max(0, i - 3); j < i; j++) sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  {j + 1,5}: {e[j]}");
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"- {i + 1,5}: {el ?? "<end of file>"}");
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"+ {i + 1,5}: {al ?? "<end of file>"}");
            for (int j = i + 1; j < Math.Min(a.Length, i + 4); j++) sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  {j + 1,5}: {a[j]}");
            return sb.ToString();
        }
        return null;
    }
}

/// <summary>A stale baseline reports the first differing line with its neighbours.</summary>
public class BaselineDiffTests
{
    [Fact]
    public void FirstDifferenceShowsTheLineAndContext()
    {
        string expected = "a\nb\nc\nd\ne\nf\n";
        string actual = "a\nb\nc\nD\ne\nf\n";
        string diff = Baseline.FirstDifference(expected, actual)!;
        Assert.Contains("-     4: d", diff, System.StringComparison.Ordinal);
        Assert.Contains("+     4: D", diff, System.StringComparison.Ordinal);
        Assert.Contains("      3: c", diff, System.StringComparison.Ordinal);
        Assert.Contains("      5: e", diff, System.StringComparison.Ordinal);
        Assert.Null(Baseline.FirstDifference(expected, expected));
        Assert.Contains("<end of file>", Baseline.FirstDifference("a", "a\nb")!, System.StringComparison.Ordinal);
    }
}
