using System.IO;
using System.Linq;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Cli.Tests;

/// <summary><c>--spec file.json</c>: a declaration without C#, checked by the generator's own rules (DeclarationSpec).</summary>
public sealed class SpecCliTests
{
    /// <summary>The CLI's MixLoRA declaration (src/MoeDsl.Cli/Methods/MixLora.cs) written as a JSON spec.</summary>
    private const string MixloraSpec = """
        {
          "MoeModel": { "Placement": "FeedForward" },
          "BaseModel": { "Layers": 32, "Hidden": 4096, "Intermediate": 11008, "Heads": 32, "KvHeads": 32, "Vocab": 32000 },
          "ExpertsPerLayer": { "counts": [8] },
          "Router": { "kind": "TopK", "TopK": 2 },
          "Lora": { "Rank": 8, "Alpha": 16, "Dropout": 0.05, "Targets": "All" },
          "LoadBalance": { "coefficient": 0.001 }
        }
        """;

    [SkippableFact]
    public void ASpecEqualToAGeneratedDeclarationInspectsTheSame()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent");
        string dir = Directory.CreateTempSubdirectory("moedsl-spec-").FullName;
        try
        {
            string spec = Path.Combine(dir, "mixlora.json");
            File.WriteAllText(spec, MixloraSpec);
            var generated = CliTests.Run("inspect", "--method", "mixlora", "--model", TestPaths.Stories260K);
            var fromSpec = CliTests.Run("inspect", "--spec", spec, "--model", TestPaths.Stories260K);
            Assert.True(generated.ExitCode == 0, generated.StdErr);
            Assert.True(fromSpec.ExitCode == 0, fromSpec.StdErr);
            // The per-layer table and the total (everything after the heading line) are identical.
            string Table(string s) => string.Join('\n', s.TrimEnd().Split('\n').Skip(1));
            Assert.Equal(Table(generated.StdOut), Table(fromSpec.StdOut));
            Assert.Contains("247,040", fromSpec.StdOut, System.StringComparison.Ordinal);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AnInvalidSpecIsOneLineWithTheGeneratorsRuleIdAndField()
    {
        string dir = Directory.CreateTempSubdirectory("moedsl-spec-").FullName;
        try
        {
            string spec = Path.Combine(dir, "bad.json");
            File.WriteAllText(spec, MixloraSpec.Replace("\"TopK\": 2", "\"TopK\": 9", System.StringComparison.Ordinal));
            var (code, stdout, stderr) = CliTests.Run("inspect", "--spec", spec);
            Assert.Equal(2, code);
            Assert.Contains("Router.TopK", stderr, System.StringComparison.Ordinal);
            Assert.Contains("MOE021", stderr, System.StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'));
            Assert.Equal("", stdout.Trim());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("inspect --spec /nonexistent/spec.json", "--spec '/nonexistent/spec.json' is not a file")]
    [InlineData("inspect --method mixlora --spec /nonexistent/spec.json", "--method and --spec both name a declaration")]
    [InlineData("inspect", "'inspect' needs --method or --spec")]
    public void BadSpecArgumentsAreOneLine(string commandLine, string expected)
    {
        var (code, _, stderr) = CliTests.Run(commandLine.Split(' '));
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, System.StringComparison.Ordinal);
    }
}
