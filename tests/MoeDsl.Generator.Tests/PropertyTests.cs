using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit.Abstractions;

namespace MoeDsl.Generator.Tests;

/// <summary>Random declarations, valid and invalid (including garbage argument values and types), compiled in batches: the
/// generator never throws, every invalid declaration gets at least one MOE error or a compiler error on its attributes,
/// every valid one gets no MOE error and its generated code compiles without errors or warnings. Validity is decided
/// by this generator of declarations (it builds valid declarations and injects faults it knows are invalid), not by
/// asking the generator under test.</summary>
public class PropertyTests(ITestOutputHelper output)
{
    private const int Batches = 20;
    private const int PerBatch = 500;

    private sealed record Case(string Name, string Text, bool Valid, string Fault);

    [Fact]
    public void TenThousandRandomDeclarations()
    {
        var random = new Random(20240611);
        var stopwatch = Stopwatch.StartNew();
        int total = 0, valid = 0, invalid = 0, emitted = 0;
        var faultCounts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (int batch = 0; batch < Batches; batch++)
        {
            var cases = Enumerable.Range(0, PerBatch).Select(i => Generate(random, $"P{batch}_{i}")).ToList();
            var source = new StringBuilder("using MoeDsl;\n\nnamespace Prop\n{\n");
            foreach (Case c in cases) source.Append(c.Text).Append('\n');
            source.Append("}\n");
            string text = source.ToString();
            SyntaxTree tree = GeneratorHarness.Parse(text, $"Batch{batch}.cs");
            var compilation = GeneratorHarness.CreateCompilation(tree);
            GeneratorDriver driver = GeneratorHarness.CreateDriver(new[] { new GeneratorHarness.InMemoryAdditionalText("/p/base/config.json", Declarations.Stories260KConfig) }, trackSteps: false)
                .RunGeneratorsAndUpdateCompilation(compilation, out Compilation outputCompilation, out var generatorDiagnostics);
            var result = driver.GetRunResult();
            Assert.Null(result.Results.Single().Exception);
            Assert.DoesNotContain(generatorDiagnostics, d => d.Id == "MOE000");

            // Class spans in the batch file.
            var classes = tree.GetRoot().DescendantNodes().OfType<ClassDeclarationSyntax>().Select(c => (Name: c.Identifier.ValueText, Span: c.FullSpan)).ToList();
            string? Owner(Location l)
            {
                if (l.SourceTree is not null && l.SourceTree != tree && l.SourceTree.FilePath.EndsWith(".g.cs", StringComparison.Ordinal))
                {
                    string file = System.IO.Path.GetFileName(l.SourceTree.FilePath);
                    return file.Substring("Prop.".Length, file.Length - "Prop.".Length - ".g.cs".Length);
                }
                if (l.GetLineSpan().Path != tree.FilePath) return null;
                foreach (var (name, span) in classes) if (span.Contains(l.SourceSpan.Start)) return name;
                return null;
            }
            var moeErrors = generatorDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).GroupBy(d => Owner(d.Location) ?? "?").ToDictionary(g => g.Key, g => g.ToList());
            var compilerProblems = outputCompilation.GetDiagnostics()
                .Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Id != "CS0579")   // duplicate attributes come only from faults
                .GroupBy(d => Owner(d.Location) ?? "?").ToDictionary(g => g.Key, g => g.ToList());
            Assert.False(moeErrors.ContainsKey("?"), "MOE diagnostics outside every class: " + GeneratorHarness.Describe(moeErrors.GetValueOrDefault("?") ?? new()));
            Assert.False(compilerProblems.ContainsKey("?"), "compiler problems outside every class: " + GeneratorHarness.Describe(compilerProblems.GetValueOrDefault("?") ?? new()));
            var generatedNames = result.GeneratedTrees.Select(t => System.IO.Path.GetFileName(t.FilePath)).ToHashSet();

            foreach (Case c in cases)
            {
                total++;
                bool hasMoeError = moeErrors.ContainsKey(c.Name);
                var problems = compilerProblems.GetValueOrDefault(c.Name) ?? new List<Diagnostic>();
                bool generated = generatedNames.Contains($"Prop.{c.Name}.g.cs");
                if (c.Valid)
                {
                    valid++;
                    Assert.False(hasMoeError, $"valid declaration got MOE errors:\n{c.Text}\n{GeneratorHarness.Describe(moeErrors.GetValueOrDefault(c.Name) ?? new())}");
                    Assert.True(problems.Count == 0, $"valid declaration does not compile cleanly:\n{c.Text}\n{GeneratorHarness.Describe(problems)}");
                    Assert.True(generated, $"valid declaration generated nothing:\n{c.Text}");
                    emitted++;
                }
                else
                {
                    invalid++;
                    faultCounts[c.Fault] = faultCounts.GetValueOrDefault(c.Fault) + 1;
                    bool compilerError = problems.Any(d => d.Severity == DiagnosticSeverity.Error);
                    Assert.True(hasMoeError || compilerError, $"invalid declaration ({c.Fault}) got neither a MOE error nor a compiler error:\n{c.Text}");
                    Assert.False(generated && hasMoeError, $"declaration with MOE errors still generated code:\n{c.Text}");
                }
            }
        }
        output.WriteLine($"{total} declarations ({valid} valid, all {emitted} generated and compiled cleanly; {invalid} invalid, all diagnosed) in {stopwatch.Elapsed.TotalSeconds:F1} s");
        output.WriteLine("faults injected: " + string.Join(", ", faultCounts.Select(kv => $"{kv.Key} {kv.Value}")));
        Assert.Equal(Batches * PerBatch, total);
        Assert.True(valid > total / 3 && invalid > total / 3, $"valid {valid}, invalid {invalid}");
        Assert.True(faultCounts.Count >= 25, $"only {faultCounts.Count} fault kinds were drawn");
    }

    private static string D(double v) => double.IsNaN(v) ? "double.NaN" : double.IsPositiveInfinity(v) ? "double.PositiveInfinity"
        : double.IsNegativeInfinity(v) ? "double.NegativeInfinity" : v.ToString("R", CultureInfo.InvariantCulture);

    private static readonly string[] Kinds = { "TopK", "TopP", "Switch", "Soft", "Graph" };
    private static readonly string[] Projections = { "Q", "K", "V", "O", "Gate", "Up", "Down" };
    private static readonly string[] Faults =
    {
        "rank", "alpha", "alphaNaN", "dropout", "noTargets", "countBelowOne", "groupsDoNotDivide", "topKAboveExperts", "topP",
        "switchTopK", "graphEveryProjection", "hiddenHeads", "kvHeads", "oddHeadDim", "sizeNotPositive", "missingLora", "missingBase",
        "routerWithoutExperts", "notPartial", "capacity", "jitter", "graphLossesNotGraph", "loadBalance", "perGroupLength",
        "partialFfn", "configMissing", "configDisagrees", "garbageCounts", "garbageRank", "garbageTopK", "garbageLayers",
        "intTargets", "unknownProperty", "undefinedRouter", "undefinedPlacement", "tooManyCounts", "graphDensity", "lambda",
        "duplicate", "infiniteJitter", "fileLocal", "memberClash",
    };

    /// <summary>User members that the generated code would declare again (MOE017), and members that do not clash.</summary>
    private static readonly string[] ClashingMembers =
    {
        "internal int Layers => 1;", "internal const string Vocab = \"v\";", "internal static int ExpertsInLayer(int layer) => layer;",
        "internal static object? Spec;", "internal void TrainableParameters() { }", "internal sealed class HeadDim { }",
    };
    private static readonly string[] HarmlessMembers =
    {
        "internal static int ExpertsInLayer(string name) => name.Length;", "internal int LayerCount => Layers;", "internal static int Twice(int x) => 2 * x;",
    };

    private static Case Generate(Random r, string name)
    {
        string? fault = r.NextDouble() < 0.5 ? Faults[r.Next(Faults.Length)] : null;
        bool F(string f) => fault == f;

        // Base shape.
        int[] layerChoices = { 1, 2, 3, 4, 5, 6, 8, 12, 16, 32 };
        int layers = layerChoices[r.Next(layerChoices.Length)];
        int heads = new[] { 1, 2, 4, 8 }[r.Next(4)];
        int headDim = new[] { 2, 4, 8, 16 }[r.Next(4)];
        int hidden = heads * headDim;
        int[] kvChoices = Enumerable.Range(1, heads).Where(k => heads % k == 0).ToArray();
        int kv = kvChoices[r.Next(kvChoices.Length)];
        int inter = r.Next(1, 257), vocab = r.Next(1, 1001);
        if (F("hiddenHeads")) heads = hidden * 2;
        if (F("kvHeads")) kv = heads + 1;
        if (F("oddHeadDim")) { hidden = heads * 3; kv = heads; }
        if (F("sizeNotPositive")) vocab = -r.Next(0, 10);
        bool useConfig = !F("garbageLayers") && !F("hiddenHeads") && !F("kvHeads") && !F("oddHeadDim") && !F("sizeNotPositive") && (r.NextDouble() < 0.1 || F("configMissing") || F("configDisagrees"));
        if (useConfig) { layers = 5; hidden = 64; heads = 8; kv = 4; inter = 172; vocab = 512; }

        bool mixture = r.NextDouble() < 0.7 || F("topKAboveExperts") || F("topP") || F("switchTopK") || F("graphEveryProjection") || F("countBelowOne")
            || F("groupsDoNotDivide") || F("capacity") || F("jitter") || F("graphLossesNotGraph") || F("perGroupLength") || F("partialFfn")
            || F("garbageCounts") || F("garbageTopK") || F("routerWithoutExperts") || F("loadBalance") || F("undefinedRouter") || F("tooManyCounts") || F("graphDensity") || F("lambda") || F("infiniteJitter");
        int kind = r.Next(5);
        if (F("topKAboveExperts")) kind = r.Next(2) == 0 ? 0 : 4;
        if (F("topP")) kind = 1;
        if (F("switchTopK") || F("capacity")) kind = 2;
        if (F("graphEveryProjection") || F("graphDensity") || F("lambda")) kind = 4;
        if (F("graphLossesNotGraph")) kind = r.Next(4);
        bool everyProjection = kind != 4 && r.Next(2) == 0;
        if (F("graphEveryProjection")) everyProjection = true;
        if (F("partialFfn")) everyProjection = false;

        // Allocation.
        int[] divisors = Enumerable.Range(1, layers).Where(d => layers % d == 0).ToArray();
        int groups = r.NextDouble() < 0.2 ? layers : divisors[r.Next(divisors.Length)];
        int minCount = kind == 4 ? 2 : 1;
        int[] counts = Enumerable.Range(0, groups).Select(_ => r.Next(minCount, 9)).ToArray();
        bool preset = layers % 4 == 0 && r.NextDouble() < 0.2 && !F("countBelowOne") && !F("groupsDoNotDivide") && !F("tooManyCounts") && !F("garbageCounts");
        int presetIndex = r.Next(5);
        if (preset) { groups = 4; counts = new[] { new[] { 8, 6, 4, 2 }, new[] { 2, 4, 6, 8 }, new[] { 8, 2, 2, 8 }, new[] { 2, 8, 8, 2 }, new[] { 5, 5, 5, 5 } }[presetIndex]; }
        if (F("countBelowOne")) counts[r.Next(counts.Length)] = -r.Next(0, 3);
        if (F("groupsDoNotDivide"))
        {
            int[] bad = Enumerable.Range(2, Math.Max(0, layers - 1)).Where(n => layers % n != 0).ToArray();
            int n = bad.Length > 0 ? bad[r.Next(bad.Length)] : layers + 1;
            groups = n;
            counts = Enumerable.Range(0, n).Select(_ => r.Next(minCount, 9)).ToArray();
        }
        if (F("tooManyCounts")) { groups = layers + 1 + r.Next(3); counts = Enumerable.Range(0, groups).Select(_ => r.Next(minCount, 9)).ToArray(); }
        int minExperts = counts.Min();
        int? routerTopK = null;
        int[]? groupTopK = null, groupRanks = null;
        if (kind is 0 or 4 && counts.Length > 0)
        {
            if (r.NextDouble() < 0.25 && !F("topKAboveExperts")) groupTopK = counts.Select(c => r.Next(1, Math.Max(1, c) + 1)).ToArray();
            else if (minExperts < 2 || r.NextDouble() < 0.5) routerTopK = r.Next(1, Math.Max(1, minExperts) + 1);
        }
        if (F("topKAboveExperts")) routerTopK = minExperts + 1 + r.Next(3);
        if (F("switchTopK")) routerTopK = r.Next(2, 5);
        if (r.NextDouble() < 0.25) groupRanks = counts.Select(_ => r.Next(1, 17)).ToArray();
        if (F("perGroupLength")) groupRanks = Enumerable.Range(0, counts.Length + 1).Select(_ => r.Next(1, 17)).ToArray();

        // LoRA.
        int rank = r.Next(1, 17);
        double alpha = r.NextDouble() < 0.5 ? r.Next(1, 65) : 0.5 + r.NextDouble() * 64;
        double dropout = r.NextDouble() < 0.3 ? 0 : r.NextDouble() * 0.5;
        int targets = r.Next(1, 128);
        if (mixture && !everyProjection) targets = 112 | r.Next(0, 16);
        if (F("rank")) rank = -r.Next(0, 4);
        if (F("alpha")) alpha = -r.Next(0, 3);
        if (F("alphaNaN")) alpha = double.NaN;
        if (F("dropout")) dropout = r.Next(2) == 0 ? 1 + r.NextDouble() : -0.1;
        if (F("noTargets")) targets = 0;
        if (F("partialFfn")) targets = new[] { 16, 32, 64, 48, 80, 96 }[r.Next(6)] | r.Next(0, 16);

        var a = new List<string>();
        string placement = everyProjection ? "ExpertPlacement.EveryProjection" : "ExpertPlacement.FeedForward";
        string moeArgs = F("undefinedPlacement") ? "Placement = (ExpertPlacement)7" : r.Next(3) == 0 && !everyProjection ? "" : "Placement = " + placement;
        if (r.Next(5) == 0) moeArgs += (moeArgs.Length > 0 ? ", " : "") + "ReportParameters = true";
        a.Add($"[MoeModel({moeArgs})]");
        if (!F("missingBase"))
        {
            string sizes = $"Layers = {layers}, Hidden = {hidden}, Intermediate = {inter}, Heads = {heads}, KvHeads = {kv}, Vocab = {vocab}";
            if (F("garbageLayers")) sizes = sizes.Replace($"Layers = {layers}", "Layers = true");
            if (useConfig)
                sizes = F("configMissing") ? "ConfigFile = \"nowhere/config.json\""
                    : F("configDisagrees") ? "ConfigFile = \"base/config.json\", Hidden = 128"
                    : r.Next(2) == 0 ? "ConfigFile = \"base/config.json\"" : "ConfigFile = \"config.json\", Layers = 5";
            a.Add($"[BaseModel({sizes})]");
        }
        if (mixture)
        {
            if (!F("routerWithoutExperts"))
            {
                string list = preset ? "AllocationPreset." + new[] { "Triangle", "InvertedTriangle", "Hourglass", "Diamond", "Rectangle" }[presetIndex] : string.Join(", ", counts);
                if (F("garbageCounts")) list = "\"x\"";
                if (groupTopK is not null) list += ", TopK = new[] { " + string.Join(", ", groupTopK) + " }";
                if (groupRanks is not null) list += ", Ranks = new int[] { " + string.Join(", ", groupRanks) + " }";
                a.Add($"[ExpertsPerLayer({list})]");
            }
            var routerArgs = new List<string> { F("undefinedRouter") ? "(RouterKind)17" : "RouterKind." + Kinds[kind] };
            if (routerTopK is int k) routerArgs.Add(F("garbageTopK") ? "TopK = \"two\"" : $"TopK = {k}");
            else if (F("garbageTopK")) routerArgs.Add("TopK = 2.5");
            if (kind == 1) routerArgs.Add($"TopP = {D(F("topP") ? new[] { 0, 1.5, -0.2 }[r.Next(3)] : 0.05 + r.NextDouble() * 0.95)}");
            if (r.Next(3) == 0 || F("jitter") || F("infiniteJitter"))
                routerArgs.Add($"JitterNoise = {D(F("jitter") ? 1 + r.NextDouble() : F("infiniteJitter") ? double.PositiveInfinity : r.NextDouble() * 0.5)}");
            if (kind == 2) routerArgs.Add($"CapacityFactor = {D(F("capacity") ? -r.NextDouble() : 0.1 + r.NextDouble() * 3)}, ZLossCoefficient = {D(r.NextDouble() * 0.01)}");
            if (kind == 4) routerArgs.Add($"GraphHidden = {r.Next(1, 65)}, GraphLayers = {r.Next(1, 4)}, GraphDensity = {D(F("graphDensity") ? 1.5 : 0.05 + r.NextDouble() * 0.95)}");
            a.Add($"[Router({string.Join(", ", routerArgs)})]");
            if (r.Next(3) == 0 || F("loadBalance")) a.Add(F("loadBalance") ? $"[LoadBalance({D(-r.NextDouble())})]" : r.Next(2) == 0 ? "[LoadBalance]" : $"[LoadBalance({D(0.0001 + r.NextDouble() * 0.01)})]");
            if ((kind == 4 && r.Next(2) == 0) || F("graphLossesNotGraph") || F("lambda"))
                a.Add($"[GraphLosses(Poisson = {D(r.NextDouble() * 0.01)}, Normal = {D(r.Next(0, 10))}, Lambda = {D(F("lambda") ? 2.5 : 1 + r.NextDouble())}, Form = GraphLossForm.{(r.Next(2) == 0 ? "AbsLog" : "KL")})]");
        }
        if (!F("missingLora"))
        {
            string targetText = F("intTargets") ? $"Targets = {targets}"
                : targets == 0 ? "Targets = LoraTargets.None"
                : "Targets = " + string.Join(" | ", Enumerable.Range(0, 7).Where(i => (targets & (1 << i)) != 0).Select(i => "LoraTargets." + Projections[i]));
            string loraArgs = F("garbageRank") ? "Rank = 1.5" : $"Rank = {rank}";
            loraArgs += $", Alpha = {D(alpha)}, Dropout = {D(dropout)}, {targetText}";
            if (F("unknownProperty")) loraArgs += ", Bogus = 1";
            a.Add($"[Lora({loraArgs})]");
        }
        string declaration = F("notPartial") ? $"internal class {name}" : F("fileLocal") ? $"file partial class {name}" : $"internal partial class {name}";
        string body = F("memberClash") ? "        " + ClashingMembers[r.Next(ClashingMembers.Length)] + "\n"
            : r.Next(4) == 0 ? "        " + HarmlessMembers[r.Next(HarmlessMembers.Length)] + "\n" : "";
        string text = "    " + string.Join("\n    ", a) + "\n    " + declaration + "\n    {\n" + body + "    }\n";
        if (F("duplicate")) text = text + $"    [Lora(Rank = 2)]\n    internal partial class {name}\n    {{\n    }}\n";
        return new Case(name, text, fault is null, fault ?? "");
    }
}
