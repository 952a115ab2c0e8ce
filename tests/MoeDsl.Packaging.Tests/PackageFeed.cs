using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Packaging.Tests;

/// <summary>The packages of this build, packed once per test run into a local feed in a temporary folder: MoeDsl (runtime,
/// generator, native fix; depends on MoeDsl.Attributes, TorchSharp and the CPU libtorch), MoeDsl.Attributes and the
/// MoeDsl.Cli tool. A version of their own (<c>0.1.0-test…</c>) so that the global packages folder never serves a stale
/// copy; those folders are removed again at the end. Pack runs with <c>--no-build</c>: the test project's references
/// built the projects already, in this configuration.</summary>
public sealed class PackageFeed : IDisposable
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>The package ids packed, with the project each comes from.</summary>
    public static readonly IReadOnlyList<(string Id, string Project)> Packages = new[]
    {
        ("MoeDsl.Attributes", "src/MoeDsl.Attributes/MoeDsl.Attributes.csproj"),
        ("MoeDsl", "src/MoeDsl.Runtime/MoeDsl.Runtime.csproj"),
        ("MoeDsl.Cli", "src/MoeDsl.Cli/MoeDsl.Cli.csproj"),
    };

    public PackageFeed()
    {
        Root = Path.Combine(Path.GetTempPath(), "moedsl-packages-" + Guid.NewGuid().ToString("N")[..8]);
        Feed = Path.Combine(Root, "feed");
        Directory.CreateDirectory(Feed);
        Version = "0.1.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
        var log = new StringBuilder();
        foreach (var (_, project) in Packages)
        {
            log.Append(Dotnet.Run(TestPaths.RepoRoot, null, "pack", Path.Combine(TestPaths.RepoRoot, project), "-c", Configuration, "--no-build", "--nologo",
                "-o", Feed, $"-p:PackageVersion={Version}", $"-p:PublishDir={Path.Combine(Root, "publish")}/"));
        }
        PackLog = log.ToString();
    }

    /// <summary>The temporary folder holding the feed (and the tests' work folders).</summary>
    public string Root { get; }

    /// <summary>The local feed (a folder of .nupkg files).</summary>
    public string Feed { get; }

    /// <summary>The version every package was packed with.</summary>
    public string Version { get; }

    /// <summary>What the pack commands printed.</summary>
    public string PackLog { get; }

    /// <summary>The .nupkg of <paramref name="id"/>.</summary>
    public string PackageFile(string id) => Path.Combine(Feed, $"{id}.{Version}.nupkg");

    /// <summary>NuGet's global packages folder (<c>NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>).</summary>
    public static string GlobalPackages => Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } g
        ? g : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public void Dispose()
    {
        foreach (var (id, _) in Packages) TryDelete(Path.Combine(GlobalPackages, id.ToLowerInvariant(), Version));
        TryDelete(Root);
    }

    private static void TryDelete(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* cleanup only: a leftover folder fails nothing */ }
    }
}

/// <summary>The tests that share one <see cref="PackageFeed"/>.</summary>
[CollectionDefinition(nameof(PackageFeedTests))]
public sealed class PackageFeedTests : ICollectionFixture<PackageFeed> { }

/// <summary>Runs <c>dotnet</c> (or another program) and returns what it printed.</summary>
internal static class Dotnet
{
    public static string Run(string directory, IReadOnlyDictionary<string, string>? environment, params string[] args)
        => RunProgram("dotnet", directory, environment, expectFailure: false, args);

    public static string RunProgram(string program, string directory, IReadOnlyDictionary<string, string>? environment, bool expectFailure, params string[] args)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        if (environment is not null) foreach (var (k, v) in environment) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var text = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string shown = $"{program} {string.Join(' ', info.ArgumentList)}";
        if (!process.WaitForExit(600_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{shown} did not finish in 10 minutes:\n{text}");
        }
        process.WaitForExit();
        string all = text.ToString();
        if (expectFailure) Assert.True(process.ExitCode != 0, $"expected {shown} to fail:\n{all}");
        else Assert.True(process.ExitCode == 0, $"{shown} exited with {process.ExitCode}:\n{all}");
        return all;
    }
}
