using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using MoeDsl.Samples.Comparison;
using Xunit;

namespace MoeDsl.Runtime.Tests.Comparison;

public sealed class ComparisonResultFilesTests
{
    private static ComparisonResult Run(string method, int seed, double first, double finalLoss = 1.5) =>
        new(method, seed, 1000, 7.9, finalLoss, double.NaN, 2.0, new Dictionary<string, double> { ["first"] = first, ["length"] = 1.0 },
            12.5, null, new[] { 7.9, 3.0, finalLoss }, new[] { new[] { 0.25, 0.75 } });

    [Fact]
    public void ResultsWrittenByTheJobReadBackEqualNaNIncluded()
    {
        string dir = Directory.CreateTempSubdirectory("moedsl-results-").FullName;
        try
        {
            var runs = new List<ComparisonResult> { Run("lora", 1, 0.05), Run("gmoe", 1, 0.98) };
            File.WriteAllText(Path.Combine(dir, "results.json"), JsonSerializer.Serialize(runs, ComparisonResultFiles.Json));
            List<ComparisonResult> back = ComparisonResultFiles.Read(dir);
            Assert.Equal(2, back.Count);
            Assert.Equal("gmoe", back[1].Method);
            Assert.Equal(0.98, back[1].Accuracy["first"]);
            Assert.True(double.IsNaN(back[0].HeldOutLossBefore));
            Assert.Equal(new[] { 7.9, 3.0, 1.5 }, back[0].Losses);
            Assert.Equal(0.75, back[0].ExpertLoad[0][1]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void JoinKeepsOneCopyOfARunFoundTwiceAndOrdersByMethodThenSeed()
    {
        var a = new List<ComparisonResult> { Run("lora", 2, 0.05), Run("gmoe", 1, 0.98), Run("lora", 1, 0.04) };
        var b = new List<ComparisonResult> { Run("lora", 1, 0.04), Run("mixlora", 1, 0.6) };
        List<ComparisonResult> joined = ComparisonResultFiles.Join(new (string, IReadOnlyList<ComparisonResult>)[] { ("A", a), ("B", b) },
            new[] { "lora", "mixlora", "gmoe" });
        Assert.Equal(new[] { ("lora", 1), ("lora", 2), ("mixlora", 1), ("gmoe", 1) }, joined.Select(r => (r.Method, r.Seed)));
    }

    [Fact]
    public void JoinRefusesARunThatDiffersAnUndeclaredMethodAndOtherTasksInOneLine()
    {
        var a = new List<ComparisonResult> { Run("lora", 1, 0.04) };
        var differs = new List<ComparisonResult> { Run("lora", 1, 0.05) };
        var e = Assert.Throws<ArgumentException>(() => ComparisonResultFiles.Join(new (string, IReadOnlyList<ComparisonResult>)[] { ("A", a), ("B", differs) }, new[] { "lora" }));
        Assert.Equal("B: lora seed 1 differs from the same run in an earlier set; join runs of one code version only", e.Message);

        e = Assert.Throws<ArgumentException>(() => ComparisonResultFiles.Join(new (string, IReadOnlyList<ComparisonResult>)[] { ("A", a) }, new[] { "gmoe" }));
        Assert.Equal("A: method 'lora' is not declared here; methods: gmoe", e.Message);

        var otherTasks = new List<ComparisonResult> { Run("gmoe", 1, 0.9) with { Accuracy = new Dictionary<string, double> { ["arc"] = 0.5 } } };
        e = Assert.Throws<ArgumentException>(() => ComparisonResultFiles.Join(new (string, IReadOnlyList<ComparisonResult>)[] { ("A", a), ("B", otherTasks) }, new[] { "lora", "gmoe" }));
        Assert.Contains("different tasks", e.Message);

        e = Assert.Throws<ArgumentException>(() => ComparisonResultFiles.Read(Path.Combine(Path.GetTempPath(), "moedsl-no-such-folder")));
        Assert.EndsWith("no results.json there (a main-job --out folder has one after its first run)", e.Message);
    }
}
