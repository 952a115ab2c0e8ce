using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Cli.Tests;

/// <summary>The command line's surface (System.CommandLine over the one option table, <see cref="CliOptions"/>): help per
/// verb with descriptions, defaults and required markers, exit code 0 for help, response files, completions, and
/// docs/cli.md covering every verb and option.</summary>
public sealed class CommandLineTests
{
    [Fact]
    public void HelpExitsZeroAndDescribesEveryOptionWithItsDefaultAndRequiredMarker()
    {
        var (rootCode, rootOut, _) = CliTests.Run("--help");
        Assert.Equal(0, rootCode);
        foreach (CliVerb verb in CliOptions.Verbs) Assert.Contains(verb.Name, rootOut, StringComparison.Ordinal);
        Assert.Contains(MoeDslApp.ExitCodes, rootOut, StringComparison.Ordinal);

        foreach (CliVerb verb in CliOptions.Verbs)
        {
            var (code, stdout, stderr) = CliTests.Run(verb.Name, "--help");
            Assert.True(code == 0, $"{verb.Name} --help: {code} {stderr}");
            Assert.Contains(verb.Description, stdout, StringComparison.Ordinal);
            Assert.Contains(MoeDslApp.ExitCodes, stdout, StringComparison.Ordinal);
            foreach (var (name, required) in verb.Options.Concat(CliOptions.Common.Select(c => (c, false))))
            {
                CliOption o = CliOptions.All[name];
                string line = stdout.Split('\n').SingleOrDefault(l => Regex.IsMatch(l, $@"^\s+--{Regex.Escape(name)}(\s|$)"))
                              ?? throw new Xunit.Sdk.XunitException($"{verb.Name} --help has no line for --{name}:\n{stdout}");
                Assert.Contains(o.Description[..Math.Min(30, o.Description.Length)], line, StringComparison.Ordinal);
                Assert.Equal(required, line.Contains("(REQUIRED)", StringComparison.Ordinal));
                if (CliOptions.DefaultFor(verb.Name, name) is string fallback) Assert.Contains($"[default: {fallback}]", line, StringComparison.Ordinal);
                if (o.Choices is not null) Assert.Contains($"<{string.Join("|", o.Choices)}>", line, StringComparison.Ordinal);
            }
        }
        // A verb's own default: --seed is 42 for train, 0 for generate.
        Assert.Contains("[default: 42]", CliTests.Run("train", "--help").StdOut.Split('\n').Single(l => l.TrimStart().StartsWith("--seed", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public void AResponseFileGivesTheSameArgumentsAsTheCommandLine()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent");
        string rsp = Path.Combine(Path.GetTempPath(), "moedsl-" + Guid.NewGuid().ToString("N")[..8] + ".rsp");
        File.WriteAllLines(rsp, new[] { "generate", "--model", TestPaths.Stories260K, "--prompt-ids 1", "--max-new-tokens", "8" });
        try
        {
            var (code, stdout, stderr) = CliTests.Run("@" + rsp);
            Assert.True(code == 0, stderr);
            Assert.Equal(string.Join(" ", TestPaths.Stories260KGreedy.Take(8)), stdout.Trim().Split('\n').Last().Trim());
        }
        finally { File.Delete(rsp); }
        var (missing, _, missingErr) = CliTests.Run("@/no/such/file.rsp");
        Assert.Equal(2, missing);
        Assert.Contains("/no/such/file.rsp", missingErr, StringComparison.Ordinal);
    }

    [Fact]
    public void CompletionsOfferVerbsFixedChoicesAndTheDeclaredMethods()
    {
        // System.CommandLine's [suggest:position] directive, as dotnet-suggest calls it.
        static string[] Suggest(string line) => CliTests.Run($"[suggest:{line.Length}]", line).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("generate", Suggest("gen"));
        Assert.Equal(new[] { "constant", "cosine" }, Suggest("train --schedule c"));
        string[] methods = Suggest("inspect --method mola");
        Assert.Contains("mola-2468", methods);
        Assert.Contains("mola-5555", methods);
        Assert.Equal(new[] { "--prompt", "--prompt-ids" }, Suggest("generate --prom"));
    }

    [Fact]
    public void TheDocumentationListsEveryVerbAndOption()
    {
        string doc = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "cli.md"));
        foreach (CliVerb verb in CliOptions.Verbs)
        {
            int at = doc.IndexOf($"## `moedsl {verb.Name}`", StringComparison.Ordinal);
            Assert.True(at >= 0, $"docs/cli.md has no section '## `moedsl {verb.Name}`'");
            int end = doc.IndexOf("\n## ", at + 1, StringComparison.Ordinal);
            string section = end < 0 ? doc[at..] : doc[at..end];
            foreach (var (name, _) in verb.Options) Assert.True(section.Contains($"`--{name}", StringComparison.Ordinal), $"docs/cli.md: {verb.Name} lacks --{name}");
        }
        foreach (string name in CliOptions.Common) Assert.Contains($"`--{name}", doc, StringComparison.Ordinal);
        foreach (string code in new[] { "| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |" }) Assert.Contains(code, doc, StringComparison.Ordinal);
    }
}
