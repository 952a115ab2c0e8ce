using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace MoeDsl.Generator.Tests;

/// <summary>The pipeline caches like dotnet/runtime's generators: tracked steps, Cached/Unchanged on a re-run, no re-emission
/// for unrelated edits, Modified for a real change; and the cached model holds no compilation objects.</summary>
public class IncrementalTests
{
    private static readonly string Source = Declarations.Snapshots.Single(s => s.Name == "MoLA2468").Source;

    private static GeneratorDriver RunTwice(Compilation first, Compilation second, out GeneratorDriverRunResult result)
    {
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(first);
        driver = driver.RunGenerators(second);
        result = driver.GetRunResult();
        return driver;
    }

    private static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorDriverRunResult result, string step)
        => result.Results.Single().TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason);

    private static IEnumerable<IncrementalStepRunReason> OutputReasons(GeneratorDriverRunResult result)
        => result.Results.Single().TrackedOutputSteps.SelectMany(kv => kv.Value).SelectMany(s => s.Outputs).Select(o => o.Reason);

    [Fact]
    public void StepsAreTracked()
    {
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(Source)));
        var steps = driver.GetRunResult().Results.Single().TrackedSteps;
        foreach (string name in new[] { TrackingNames.Parse, TrackingNames.Runtime, TrackingNames.ConfigFiles, TrackingNames.Validate, TrackingNames.Model })
            Assert.True(steps.ContainsKey(name), $"step {name} is not tracked; tracked: {string.Join(", ", steps.Keys)}");
    }

    [Fact]
    public void SecondRunOnTheSameCompilationIsCached()
    {
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(Source));
        RunTwice(compilation, compilation.Clone(), out var result);
        foreach (string step in new[] { TrackingNames.Parse, TrackingNames.Validate, TrackingNames.Model })
            Assert.All(Reasons(result, step), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {r}"));
        Assert.All(OutputReasons(result), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void UnrelatedSyntaxTreeDoesNotReEmit()
    {
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(Source));
        var edited = compilation.AddSyntaxTrees(GeneratorHarness.Parse("namespace Other { internal static class Helper { public static int Two => 2; } }", "Other.cs"));
        RunTwice(compilation, edited, out var result);
        Assert.All(Reasons(result, TrackingNames.Parse), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
        Assert.All(Reasons(result, TrackingNames.Model), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
        Assert.All(OutputReasons(result), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void MovingTheDeclarationKeepsTheSourceCached()
    {
        // Comments above the class move every location: the diagnostics part changes, the emitted source does not.
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(Source));
        var tree = compilation.SyntaxTrees.First();
        var moved = compilation.ReplaceSyntaxTree(tree, GeneratorHarness.Parse("// a comment\n// another\n" + Source));
        RunTwice(compilation, moved, out var result);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, TrackingNames.Parse));
        Assert.All(Reasons(result, TrackingNames.Model), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
    }

    [Fact]
    public void EditingTheDeclarationReEmits()
    {
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(Source));
        var tree = compilation.SyntaxTrees.First();
        var edited = compilation.ReplaceSyntaxTree(tree, GeneratorHarness.Parse(Source.Replace("Rank = 8", "Rank = 16")));
        var driver = RunTwice(compilation, edited, out var result);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, TrackingNames.Model));
        Assert.Contains(IncrementalStepRunReason.Modified, OutputReasons(result));
        Assert.Contains("Rank: 16)", GeneratorHarness.ModelTrees(result).Single().ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ChangingAConfigFileReValidates()
    {
        var source = Declarations.Snapshots.Single(s => s.Name == "PlainLora").Source;
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.Parse(source));
        var file = new GeneratorHarness.InMemoryAdditionalText("/r/stories260K/config.json", Declarations.Stories260KConfig);
        GeneratorDriver driver = GeneratorHarness.CreateDriver(new[] { file }).RunGenerators(compilation);
        var changed = new GeneratorHarness.InMemoryAdditionalText("/r/stories260K/config.json", Declarations.Stories260KConfig.Replace("\"vocab_size\": 512", "\"vocab_size\": 1024"));
        driver = driver.ReplaceAdditionalText(file, changed).RunGenerators(compilation);
        var result = driver.GetRunResult();
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(result, TrackingNames.Model));
        Assert.Contains("public const int Vocab = 1024;", GeneratorHarness.ModelTrees(result).Single().ToString(), StringComparison.Ordinal);
    }

    /// <summary>Walks every type reachable from the pipeline's models (fields, properties, generic arguments) and fails on
    /// anything that would pin a compilation in the cache.</summary>
    [Fact]
    public void ModelGraphHoldsNoCompilationObjects()
    {
        Assembly generator = typeof(MoeModelGenerator).Assembly;
        var roots = new[] { "ParsedDeclaration", "AnalysisResult", "GeneratedModel", "RuntimeInfo", "AdditionalFileInfo", "DiagnosticInfo" }
            .Select(n => generator.GetType("MoeDsl.Generator.Model." + n, throwOnError: true)!).ToList();
        var forbidden = new[] { typeof(ISymbol), typeof(Compilation), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Location), typeof(SemanticModel), typeof(SyntaxToken), typeof(AttributeData) };
        var seen = new HashSet<Type>();
        var queue = new Queue<(Type Type, string Path)>(roots.Select(r => (r, r.Name)));
        var visited = 0;
        while (queue.Count > 0)
        {
            var (type, path) = queue.Dequeue();
            if (!seen.Add(type)) continue;
            visited++;
            foreach (Type bad in forbidden)
                Assert.False(bad.IsAssignableFrom(type), $"{path} is a {bad.Name}");
            if (type.IsPrimitive || type == typeof(string) || type.IsEnum || type.Namespace == "Microsoft.CodeAnalysis.Text" || type == typeof(DiagnosticDescriptor)) continue;
            if (type.IsArray) { queue.Enqueue((type.GetElementType()!, path + "[]")); continue; }
            foreach (Type arg in type.IsGenericType ? type.GetGenericArguments() : Type.EmptyTypes) queue.Enqueue((arg, $"{path}<{arg.Name}>"));
            foreach (FieldInfo f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                queue.Enqueue((f.FieldType, $"{path}.{f.Name}"));
        }
        Assert.True(visited >= 10, $"only {visited} types walked");
    }
}
