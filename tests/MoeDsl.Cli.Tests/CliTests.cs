using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Cli.Tests;

/// <summary>The moedsl command line, run as a separate process (the built moedsl.dll of src/MoeDsl.Cli).</summary>
public sealed class CliTests
{
    /// <summary>The newest moedsl.dll under src/MoeDsl.Cli/bin (the project reference builds it first).</summary>
    internal static string CliDll()
    {
        string cliBin = Path.Combine(TestPaths.RepoRoot, "src", "MoeDsl.Cli", "bin");
        string? dll = Directory.Exists(cliBin)
            ? Directory.EnumerateFiles(cliBin, "moedsl.dll", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
            : null;
        return dll ?? throw new InvalidOperationException($"moedsl.dll not found under {cliBin}; build src/MoeDsl.Cli first");
    }

    internal static (int ExitCode, string StdOut, string StdErr) Run(params string[] args) => RunWith(null, args);

    /// <summary>Runs moedsl with extra environment variables.</summary>
    internal static (int ExitCode, string StdOut, string StdErr) RunWith(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (environment is not null) foreach (var (name, value) in environment) psi.Environment[name] = value;
        psi.ArgumentList.Add(CliDll());
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000)) { p.Kill(true); throw new TimeoutException("moedsl did not finish in 5 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [SkippableFact]
    public void GenerateGreedyIdsOfStories260KMatchLlama2c()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent");
        var (code, stdout, stderr) = Run("generate", "--model", TestPaths.Stories260K, "--prompt-ids", "1", "--max-new-tokens", "64", "--temperature", "0", "--format", "ids");
        Assert.True(code == 0, stderr);
        string last = stdout.TrimEnd().Split('\n').Last().Trim();
        Assert.Equal(string.Join(" ", TestPaths.Stories260KGreedy), last);
    }

    [SkippableTheory]
    [InlineData("generate --model {stories} --prompt-idz 1", "unknown option --prompt-idz")]
    [InlineData("generate --model /nonexistent/folder --prompt-ids 1", "/nonexistent/folder")]
    [InlineData("generate --model {stories} --prompt-ids 1,x", "comma-separated token ids")]
    [InlineData("generate --model {stories} --prompt-ids 9999", "outside the vocabulary")]
    [InlineData("generate --model {stories} --prompt-ids 1 --temperature hot", "--temperature must be a number")]
    [InlineData("frobnicate", "unknown command 'frobnicate'")]
    public void BadArgumentsExitNonZeroWithOneLineNamingTheProblem(string commandLine, string expected)
    {
        Skip.If(!TestPaths.HasStories260K && commandLine.Contains("{stories}"), $"{TestPaths.Stories260K} is absent");
        string[] args = commandLine.Replace("{stories}", TestPaths.Stories260K).Split(' ');
        var (code, stdout, stderr) = Run(args);
        Assert.NotEqual(0, code);
        string[] lines = stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", stderr + stdout);
    }

    [Fact]
    public void AFolderWithoutWeightsIsRefusedNamingTheFile()
    {
        string dir = Path.Combine(Path.GetTempPath(), "moedsl-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 2, \"num_attention_heads\": 8, \"vocab_size\": 32}");
            var (code, _, stderr) = Run("generate", "--model", dir, "--prompt-ids", "1");
            Assert.Equal(1, code);
            Assert.Contains("model.safetensors", stderr);
        }
        finally { Directory.Delete(dir, true); }
    }
}
