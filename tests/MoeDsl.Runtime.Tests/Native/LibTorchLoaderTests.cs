using System;
using System.IO;
using MoeDsl.Runtime.Native;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Native;

public sealed class LibTorchLoaderTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "moedsl-libtorch-" + Guid.NewGuid().ToString("N"));

    public LibTorchLoaderTests() => Directory.CreateDirectory(root);

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>A fake pip layout: site-packages/torch/lib with the three libraries (empty files) and torch/version.py.</summary>
    private string FakeWheel(string? versionPy, bool cuda = false)
    {
        string lib = Path.Combine(root, "site-packages", "torch", "lib");
        Directory.CreateDirectory(lib);
        foreach (string f in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" }) File.WriteAllBytes(Path.Combine(lib, f), Array.Empty<byte>());
        if (cuda)
            foreach (string f in new[] { "libc10_cuda.so", "libtorch_cuda.so" }) File.WriteAllBytes(Path.Combine(lib, f), Array.Empty<byte>());
        if (versionPy is not null)
            File.WriteAllText(Path.Combine(root, "site-packages", "torch", "version.py"),
                $"from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'xpu']\n__version__ = '{versionPy}'\ndebug = False\ncuda: Optional[str] = '12.8'\n");
        return lib;
    }

    [Fact]
    public void MissingDirectoryNamesItAndTheFix()
    {
        string dir = Path.Combine(root, "nope");
        var e = Assert.Throws<LibTorchLoadException>(() => LibTorchLoader.Inspect(dir, "MOEDSL_LIBTORCH"));
        Assert.Contains(dir, e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.Contains("torch/lib", e.Message);
        Assert.StartsWith("MOEDSL_LIBTORCH:", e.Message);
    }

    [Fact]
    public void DirectoryWithoutLibrariesListsWhatIsMissing()
    {
        File.WriteAllBytes(Path.Combine(root, "libc10.so"), Array.Empty<byte>());
        var e = Assert.Throws<LibTorchLoadException>(() => LibTorchLoader.Inspect(root));
        Assert.Contains("libtorch_cpu.so, libtorch.so", e.Message);
        Assert.DoesNotContain("libc10.so,", e.Message);
        Assert.Contains(root, e.Message);
    }

    [Fact]
    public void VersionMismatchNamesDirectoryFoundAndExpected()
    {
        string lib = FakeWheel("2.4.1+cu121");
        var e = Assert.Throws<LibTorchLoadException>(() => LibTorchLoader.Inspect(lib));
        Assert.Contains(lib, e.Message);
        Assert.Contains("2.4.1+cu121", e.Message);
        Assert.Contains("2.10.x", e.Message);
        Assert.Contains("version.py", e.Message);
    }

    [Fact]
    public void MissingVersionFileListsTheFilesLookedFor()
    {
        string lib = FakeWheel(null);
        var e = Assert.Throws<LibTorchLoadException>(() => LibTorchLoader.Inspect(lib));
        Assert.Contains("cannot tell the libtorch version", e.Message);
        Assert.Contains(Path.Combine(root, "site-packages", "torch", "version.py"), e.Message);
        Assert.Contains("build-version", e.Message);
    }

    [Fact]
    public void MatchingWheelIsAcceptedWithItsLoadOrder()
    {
        string lib = FakeWheel("2.10.0+cu128", cuda: true);
        LibTorchInstall install = LibTorchLoader.Inspect(lib);
        Assert.Equal(new Version(2, 10, 0), install.Version.Version);
        Assert.Equal("cu128", install.Version.Local);
        Assert.True(install.HasCuda);
        Assert.Equal(new[] { "libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so" },
            Array.ConvertAll(System.Linq.Enumerable.ToArray(install.LoadOrder), Path.GetFileName));
        Assert.EndsWith("version.py", install.VersionFile);
    }

    [Fact]
    public void LibTorchZipBuildVersionAndWheelMetadataAreRead()
    {
        string zipLib = Path.Combine(root, "libtorch", "lib");
        Directory.CreateDirectory(zipLib);
        File.WriteAllText(Path.Combine(root, "libtorch", "build-version"), "2.10.0+cpu\n");
        var fromZip = LibTorchLoader.FindVersion(zipLib);
        Assert.NotNull(fromZip);
        Assert.Equal(new Version(2, 10, 0), fromZip!.Value.Version.Version);
        Assert.Equal("cpu", fromZip.Value.Version.Local);

        string lib = FakeWheel(null);
        string distInfo = Path.Combine(root, "site-packages", "torch-2.9.1.dist-info");
        Directory.CreateDirectory(distInfo);
        File.WriteAllText(Path.Combine(distInfo, "METADATA"), "Metadata-Version: 2.1\nName: torch\nVersion: 2.9.1\nSummary: Tensors\n");
        var fromWheel = LibTorchLoader.FindVersion(lib);
        Assert.NotNull(fromWheel);
        Assert.Equal(new Version(2, 9, 1), fromWheel!.Value.Version.Version);
        Assert.False(LibTorchLoader.IsCompatible(fromWheel.Value.Version.Version));
    }

    [Theory]
    [InlineData("2.10.0+cu128", 2, 10, 0, "cu128")]
    [InlineData("2.10.0", 2, 10, 0, "")]
    [InlineData("2.10.1a0+git7e8f9a1", 2, 10, 1, "git7e8f9a1")]
    [InlineData("2.10.0.dev20251101+cpu", 2, 10, 0, "cpu")]
    [InlineData(" 2.10 \n", 2, 10, 0, "")]
    public void VersionStringsParse(string text, int major, int minor, int patch, string local)
    {
        LibTorchVersion? v = LibTorchVersion.TryParse(text);
        Assert.NotNull(v);
        Assert.Equal(new Version(major, minor, patch), v!.Version);
        Assert.Equal(local, v.Local);
    }

    [Theory]
    [InlineData("")]
    [InlineData("torch")]
    [InlineData("v2.10.0")]
    [InlineData("2")]
    [InlineData("2.10.0 garbage")]
    public void NonVersionsAreRejected(string text) => Assert.Null(LibTorchVersion.TryParse(text));

    [Fact]
    public void VersionPyAndMetadataParsing()
    {
        Assert.Equal("2.10.0+cpu", LibTorchLoader.ParseVersionPy("x = 1\n__version__ = \"2.10.0+cpu\"\n")!.Text);
        Assert.Null(LibTorchLoader.ParseVersionPy("version = '2.10.0'\n"));
        Assert.Equal(new Version(2, 10, 0), LibTorchLoader.ParseMetadata("Name: torch\nVersion: 2.10.0\n")!.Version);
        Assert.Null(LibTorchLoader.ParseMetadata("Name: torch\n"));
    }

    [Fact]
    public void ExpectedVersionIsTheOneThisTorchSharpReports()
    {
        // TorchSharp's own record of the libtorch it was built for; the loader's constant must agree with it.
        var reported = Version.Parse(__version__);
        Assert.True(LibTorchLoader.IsCompatible(reported), $"TorchSharp reports libtorch {__version__}, loader expects {LibTorchLoader.ExpectedVersion}");
    }

    [Fact]
    public void BuildThatBundlesLibTorchRefusesASecondOne()
    {
        // This test host is a TorchBackend=cpu build: libtorch ships with it.
        Assert.NotNull(LibTorchLoader.BundledLibTorch(AppContext.BaseDirectory));
        string lib = FakeWheel("2.10.0+cpu");
        var e = Assert.Throws<LibTorchLoadException>(() => LibTorchLoader.Load(lib, "--libtorch"));
        Assert.Contains("already ships libtorch", e.Message);
        Assert.Contains("-p:TorchBackend=external", e.Message);
        Assert.Contains(lib, e.Message);
        Assert.Null(LibTorchLoader.LoadedFrom);
    }

    [Fact]
    public void BundledLibTorchIsFoundUnderRuntimes()
    {
        Assert.Null(LibTorchLoader.BundledLibTorch(root));
        string native = Path.Combine(root, "runtimes", "linux-x64", "native");
        Directory.CreateDirectory(native);
        File.WriteAllBytes(Path.Combine(native, "libtorch_cpu.so"), Array.Empty<byte>());
        Assert.Equal(Path.Combine(native, "libtorch_cpu.so"), LibTorchLoader.BundledLibTorch(root));
    }
}
