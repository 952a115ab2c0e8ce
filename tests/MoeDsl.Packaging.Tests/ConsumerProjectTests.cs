using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using MoeDsl.Build;
using MoeDsl.Tests;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Packaging.Tests;

/// <summary>A user's console project in a temporary folder outside the repository (no Directory.Build.* above it) that
/// references only the MoeDsl package from the local feed (TorchSharp and libtorch from the configured NuGet source),
/// built once for the class (<see cref="ConsumerProject"/>): it builds with warnings as errors and gets the native fix in
/// its output when the host needs it; it trains a declared mixture on stories260K for a few steps, saves and reloads the
/// adapter and generates; built with the existing-libtorch switch it runs on the libtorch MOEDSL_LIBTORCH names; an
/// invalid declaration fails its build with the MOE diagnostic on the user's file.</summary>
[Collection(nameof(PackageFeedTests))]
[Trait("Category", "Packaging")]
public sealed class ConsumerProjectTests(PackageFeed feed, ConsumerProject consumer, ITestOutputHelper output) : IClassFixture<ConsumerProject>
{
    private const string NativeVersion = "GLIBCXX_3.4.32";

    [Fact]
    public void TheMoeDslPackageHoldsRuntimeGeneratorAndNativeFixAndDependsOnTheCpuBackend()
    {
        using var zip = ZipFile.OpenRead(feed.PackageFile("MoeDsl"));
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("lib/net10.0/MoeDsl.Runtime.dll", entries);
        Assert.Contains("lib/net10.0/MoeDsl.Runtime.xml", entries);
        Assert.Contains("analyzers/dotnet/cs/MoeDsl.Generator.dll", entries);
        Assert.Contains("buildTransitive/net10.0/MoeDsl.targets", entries);
        Assert.Contains("buildTransitive/net10.0/ElfWeakVersion.cs", entries);
        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) && e.EndsWith("MoeDsl.Generator.dll", StringComparison.Ordinal));
        string nuspec = new StreamReader(zip.Entries.Single(e => e.FullName == "MoeDsl.nuspec").Open()).ReadToEnd();
        foreach (string dependency in new[] { $"id=\"MoeDsl.Attributes\" version=\"{feed.Version}\"", "id=\"TorchSharp\"", "id=\"libtorch-cpu-linux-x64\"", "id=\"Tokenizers.DotNet\"", "id=\"Tokenizers.DotNet.runtime.linux-x64\"" })
            Assert.Contains(dependency, nuspec, StringComparison.Ordinal);

        using var attributes = ZipFile.OpenRead(feed.PackageFile("MoeDsl.Attributes"));
        Assert.Contains("lib/netstandard2.0/MoeDsl.Attributes.dll", attributes.Entries.Select(e => e.FullName));
    }

    [Fact]
    public void AProjectOutsideTheRepositoryBuildsWithTheGeneratedModelAndTheNativeFix()
    {
        ConsumerProject.Build built = consumer.BuiltFrom(feed);
        output.WriteLine(built.Log.Length > 4000 ? built.Log[^4000..] : built.Log);
        string generated = Directory.GetFiles(Path.Combine(built.Project, "obj"), "Consumer.Tiny.g.cs", SearchOption.AllDirectories).Single();
        Assert.Contains("partial class Tiny : global::MoeDsl.Runtime.Modeling.MoeCausalLM", File.ReadAllText(generated), StringComparison.Ordinal);

        // The native fix ran on the consumer's own output, exactly when this host's libstdc++ lacks the version.
        string native = Directory.GetFiles(built.Bin, "libLibTorchSharp.so", SearchOption.AllDirectories).Single();
        string? host = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        bool hostLacks = host is not null && !ElfWeakVersion.LibraryDefinesVersion(host, NativeVersion);
        ElfPatchResult state = ElfWeakVersion.MarkWeak(File.ReadAllBytes(native), NativeVersion, native);   // in memory: reports the flag
        Assert.Equal(hostLacks ? ElfPatchResult.AlreadyWeak : ElfPatchResult.Patched, state);
        if (hostLacks) Assert.Contains("MoeDsl TorchSharp native fix", built.Log, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void TheConsumerTrainsSavesReloadsAndGenerates()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent (../shared beside the repository)");
        ConsumerProject.Build built = consumer.BuiltFrom(feed);
        string run = Dotnet.RunProgram(Path.Combine(built.Bin, "Consumer"), built.Project, null, expectFailure: false, TestPaths.Stories260K, Path.Combine(built.Project, "run"));
        output.WriteLine(run);
        Dictionary<string, string> lines = run.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.Contains(": ", StringComparison.Ordinal)).ToDictionary(l => l[..l.IndexOf(": ", StringComparison.Ordinal)], l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]);
        // Fresh adapters (LoRA B = 0) leave the base's answer: llama2.c's greedy ids.
        Assert.Equal(Stories260KGreedy16, lines["before"]);
        double[] losses = lines["losses"].Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(4, losses.Length);
        Assert.All(losses, l => Assert.True(double.IsFinite(l) && l > 0, $"loss {l}"));
        Assert.True(losses[^1] < losses[0], $"four steps on two sequences at lr 1e-2 lower the loss: {lines["losses"]}");
        foreach (string f in new[] { "adapter_model.safetensors", "adapter_config.json" }) Assert.True(File.Exists(Path.Combine(lines["adapter"], f)), f);
        Assert.Equal(lines["after"], lines["reloaded"]);
        Assert.Equal(16, lines["after"].Split(' ').Length);
    }

    /// <summary>The existing-libtorch switch: the CPU natives stay out of the output, and the program runs on the libtorch
    /// that MOEDSL_LIBTORCH names (here an unpacked-libtorch layout, lib/ + build-version, linking the NuGet cache's copy of
    /// the same release), generating llama2.c's ids; without it, it fails.</summary>
    [SkippableFact]
    public void TheConsumerBuiltForAnExistingLibTorchRunsOnTheOneMoedslLibtorchNames()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent (../shared beside the repository)");
        ConsumerProject.Build built = consumer.BuiltFrom(feed);
        string external = Path.Combine(built.Project, "external");
        Dotnet.Run(built.Project, null, "build", "-c", "Release", built.VersionProperty, "-p:ExistingLibTorch=true", "-o", external);
        Assert.Empty(Directory.GetFiles(external, "libtorch_cpu.so", SearchOption.AllDirectories));
        string libtorch = Path.Combine(built.Project, "libtorch", "lib");
        Directory.CreateDirectory(libtorch);
        foreach (string so in Directory.GetFiles(Path.Combine(PackageFeed.GlobalPackages, "libtorch-cpu-linux-x64", "2.10.0", "runtimes", "linux-x64", "native")))
            File.CreateSymbolicLink(Path.Combine(libtorch, Path.GetFileName(so)), so);
        File.WriteAllText(Path.Combine(built.Project, "libtorch", "build-version"), "2.10.0+cpu\n");
        string withExisting = Dotnet.RunProgram(Path.Combine(external, "Consumer"), built.Project, new Dictionary<string, string> { ["MOEDSL_LIBTORCH"] = libtorch },
            expectFailure: false, TestPaths.Stories260K, Path.Combine(built.Project, "run-external"));
        Assert.Contains("before: " + Stories260KGreedy16, withExisting, StringComparison.Ordinal);
        Dotnet.RunProgram(Path.Combine(external, "Consumer"), built.Project, null, expectFailure: true, TestPaths.Stories260K, Path.Combine(built.Project, "run-none"));
    }

    /// <summary>An invalid declaration fails the user's build with the diagnostic on the user's file (in a copy of the
    /// project, so the shared build stays valid).</summary>
    [Fact]
    public void AnInvalidDeclarationFailsTheConsumersBuildOnItsFile()
    {
        string project = ConsumerProject.Write(feed, "consumer-invalid");
        string model = Path.Combine(project, "Tiny.cs");
        string valid = File.ReadAllText(model);
        Assert.Contains("TopK = 2", valid, StringComparison.Ordinal);
        File.WriteAllText(model, valid.Replace("TopK = 2", "TopK = 9", StringComparison.Ordinal));
        string failed = Dotnet.RunProgram("dotnet", project, null, expectFailure: true, "build", "-c", "Release", ConsumerProject.VersionPropertyOf(feed), "-v", "minimal");
        Assert.Contains("error MOE021", failed, StringComparison.Ordinal);
        Assert.Contains("Tiny.cs(", failed, StringComparison.Ordinal);
    }

    private static string Stories260KGreedy16 => string.Join(" ", TestPaths.Stories260KGreedy.Take(16));
}

/// <summary>The consumer project (the files of Consumer/ and a nuget.config naming the local feed) in a folder of the feed's
/// temporary root, built once for <see cref="ConsumerProjectTests"/> on first use (xUnit's class fixtures cannot take the
/// collection's <see cref="PackageFeed"/>, so the first test hands it over).</summary>
public sealed class ConsumerProject
{
    private readonly object gate = new();
    private Build? built;

    /// <summary>The built project: its folder, its output folder, the build's log and the version property it was built with.</summary>
    public sealed record Build(string Project, string Bin, string Log, string VersionProperty);

    /// <summary>The project built from <paramref name="feed"/> (built by the first call; a failed build fails every caller).</summary>
    public Build BuiltFrom(PackageFeed feed)
    {
        lock (gate) return built ??= Create(feed);
    }

    private static Build Create(PackageFeed feed)
    {
        string project = Write(feed, "consumer");
        string version = VersionPropertyOf(feed);
        string log = Dotnet.Run(project, null, "build", "-c", "Release", version, "-v", "normal");
        return new Build(project, Path.Combine(project, "bin", "Release", "net10.0"), log, version);
    }

    /// <summary>The MSBuild property that makes the consumer reference the packed version.</summary>
    public static string VersionPropertyOf(PackageFeed feed) => $"-p:MoeDslVersion={feed.Version}";

    /// <summary>Writes the consumer's sources and a nuget.config naming the local feed into a new folder
    /// <paramref name="name"/> of the feed's root, which must have no MSBuild files above it.</summary>
    public static string Write(PackageFeed feed, string name)
    {
        string project = Path.Combine(feed.Root, name);
        Directory.CreateDirectory(project);
        for (string? up = project; up is not null; up = Path.GetDirectoryName(up))
            Assert.False(Directory.EnumerateFiles(up, "Directory.Build.*").Any() || File.Exists(Path.Combine(up, "Directory.Packages.props")),
                $"{up} holds MSBuild files that would shape the consumer's build; the test needs a folder without them above it");
        foreach (string file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Consumer")))
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(project, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="moedsl-test-feed" value="{feed.Feed}" />
              </packageSources>
            </configuration>
            """);
        return project;
    }
}
