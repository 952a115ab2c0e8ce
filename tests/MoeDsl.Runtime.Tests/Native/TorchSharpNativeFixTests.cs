using System;
using System.IO;
using System.Linq;
using MoeDsl.Build;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Runtime.Tests.Native;

/// <summary>The build's GLIBCXX_3.4.32 weak-version fix (src/MoeDsl.Runtime/buildTransitive: ElfWeakVersion.cs, MoeDsl.Runtime.targets).</summary>
public sealed class TorchSharpNativeFixTests
{
    private const string Version = "GLIBCXX_3.4.32";
    private readonly ITestOutputHelper output;
    public TorchSharpNativeFixTests(ITestOutputHelper output) => this.output = output;

    private static string OutputNative => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    private static string? PackageNative()
    {
        string home = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string p = Path.Combine(home, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(p) ? p : null;
    }

    private static string? HostLibStdCxx() => new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" }.FirstOrDefault(File.Exists);

    [SkippableFact]
    public void ShippedLibraryNeedsTheVersionStrictlyAndPatchMakesItWeakOnce()
    {
        string? shipped = PackageNative();
        Skip.If(shipped is null || !OperatingSystem.IsLinux(), "not on linux-x64, or the TorchSharp package is not in the NuGet cache");
        string copy = Path.Combine(Path.GetTempPath(), $"moedsl-elf-{Guid.NewGuid():N}.so");
        File.Copy(shipped, copy);
        try
        {
            Assert.Equal(ElfPatchResult.Patched, ElfWeakVersion.MarkWeak(copy, Version));     // the package's copy is strict
            Assert.Equal(ElfPatchResult.AlreadyWeak, ElfWeakVersion.MarkWeak(copy, Version)); // idempotent
            Assert.Equal(ElfPatchResult.VersionNotReferenced, ElfWeakVersion.MarkWeak(copy, "GLIBCXX_9.9.99"));
            byte[] a = File.ReadAllBytes(shipped), b = File.ReadAllBytes(copy);
            Assert.Equal(a.Length, b.Length);
            Assert.Equal(1, a.Zip(b).Count(p => p.First != p.Second));                         // exactly one byte (the flags' low byte) changed
        }
        finally { File.Delete(copy); }
    }

    [SkippableFact]
    public void BuildOutputIsPatchedExactlyWhenTheHostLacksTheVersion()
    {
        string? host = HostLibStdCxx();
        Skip.If(host is null || !File.Exists(OutputNative), "no host libstdc++, or no linux-x64 native library in the output");
        bool hostHasVersion = ElfWeakVersion.LibraryDefinesVersion(host, Version);
        byte[] elf = File.ReadAllBytes(OutputNative);
        ElfPatchResult state = ElfWeakVersion.MarkWeak(elf, Version, OutputNative); // in memory: reports the current flag
        output.WriteLine($"host {host} defines {Version}: {hostHasVersion}; output copy: {state}");
        Assert.Equal(hostHasVersion ? ElfPatchResult.Patched : ElfPatchResult.AlreadyWeak, state);
    }

    [Fact]
    public void TorchSharpLoadsAndComputes()
    {
        using var t = TorchSharp.torch.arange(1, 5, dtype: TorchSharp.torch.ScalarType.Float32);
        Assert.Equal(10f, t.sum().item<float>());
    }

    [Fact]
    public void MalformedElfIsRefusedWithTheFileName()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfWeakVersion.MarkWeak(new byte[100], Version, "bogus.so"));
        Assert.Contains("bogus.so", e.Message);
        byte[] truncated = new byte[64];
        truncated[0] = 0x7f; truncated[1] = (byte)'E'; truncated[2] = (byte)'L'; truncated[3] = (byte)'F'; truncated[4] = 2; truncated[5] = 1;
        truncated[0x28] = 0xff; truncated[0x3A] = 64; truncated[0x3C] = 1; // section headers far outside the file
        Assert.Throws<InvalidDataException>(() => ElfWeakVersion.MarkWeak(truncated, Version, "short.so"));
    }
}
