using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace MoeDsl.Runtime.Native;

/// <summary>Loads libtorch from an existing install (a PyTorch wheel's <c>torch/lib</c>, or an unpacked libtorch's
/// <c>lib</c>) instead of the NuGet native package — the route TorchSharp documents for a Python install of PyTorch
/// (dotnet/TorchSharp#169): the libtorch libraries are loaded by full path before TorchSharp's first use, so its own
/// probe (<c>torch_cpu</c> / <c>torch_cuda</c>, then <c>LibTorchSharp</c>) finds them already in the process and
/// <c>libLibTorchSharp.so</c> binds to them by soname. Use it with a build that bundles no libtorch
/// (<c>-p:TorchBackend=external</c>); call <see cref="LoadFromEnvironment"/> or <see cref="Load"/> before anything
/// touches <c>TorchSharp.torch</c>.</summary>
public static class LibTorchLoader
{
    /// <summary>The environment variable naming the directory that contains <c>libtorch.so</c>.</summary>
    public const string EnvironmentVariable = "MOEDSL_LIBTORCH";

    /// <summary>The libtorch release TorchSharp 0.107 is built against (major.minor must match).</summary>
    public static readonly Version ExpectedVersion = new(2, 10, 0);

    private static readonly object Gate = new();
    private static string? loadedFrom;

    /// <summary>The directory libtorch was loaded from by this class, or null.</summary>
    public static string? LoadedFrom => loadedFrom;

    /// <summary>Loads libtorch from <c>$MOEDSL_LIBTORCH</c> when it is set; returns the loaded install, or null when unset.</summary>
    public static LibTorchInstall? LoadFromEnvironment()
    {
        string? dir = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return string.IsNullOrWhiteSpace(dir) ? null : Load(dir, $"environment variable {EnvironmentVariable}");
    }

    /// <summary>Checks and loads the libtorch in <paramref name="directory"/> (the folder holding <c>libtorch.so</c>).
    /// <paramref name="source"/> names where the directory came from in errors (e.g. "--libtorch").</summary>
    public static LibTorchInstall Load(string directory, string source = "--libtorch")
    {
        LibTorchInstall install = Inspect(directory, source);
        lock (Gate)
        {
            if (loadedFrom is not null)
            {
                if (string.Equals(loadedFrom, install.Directory, StringComparison.Ordinal)) return install;
                throw new LibTorchLoadException($"{source}: libtorch is already loaded from {loadedFrom}; cannot load a second one from {install.Directory}");
            }
            string? bundled = BundledLibTorch(AppContext.BaseDirectory);
            if (bundled is not null)
                throw new LibTorchLoadException(
                    $"{source}: this application already ships libtorch ({bundled}); loading a second one from {install.Directory} would put two libtorch copies in one process. " +
                    "Build with -p:TorchBackend=external (no bundled libtorch) to use an existing PyTorch install, or unset " + EnvironmentVariable + ".");
            foreach (string file in install.LoadOrder)
            {
                if (!NativeLibrary.TryLoad(file, out _))
                    throw new LibTorchLoadException($"{source}: could not load {file} (libtorch {install.Version} in {install.Directory}); " +
                        "check that its dependencies (CUDA runtime, libgomp) are on the loader path, e.g. with `ldd " + file + "`");
            }
            loadedFrom = install.Directory;
        }
        return install;
    }

    /// <summary>Checks a directory without loading anything: it must exist, hold <c>libtorch.so</c>, <c>libc10.so</c> and
    /// <c>libtorch_cpu.so</c>, and carry a version (see <see cref="FindVersion"/>) whose major.minor is
    /// <see cref="ExpectedVersion"/>'s. Throws <see cref="LibTorchLoadException"/> naming the directory, the version
    /// found and the one expected.</summary>
    public static LibTorchInstall Inspect(string directory, string source = "--libtorch")
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new LibTorchLoadException($"{source}: no directory given; pass the folder that contains libtorch.so (a PyTorch install's torch/lib)");
        string dir = Path.GetFullPath(directory);
        if (!Directory.Exists(dir))
            throw new LibTorchLoadException($"{source}: directory {dir} does not exist; pass the folder that contains libtorch.so (a PyTorch install's torch/lib)");
        string[] required = { "libc10.so", "libtorch_cpu.so", "libtorch.so" };
        string[] missing = required.Where(f => !File.Exists(Path.Combine(dir, f))).ToArray();
        if (missing.Length > 0)
            throw new LibTorchLoadException($"{source}: {dir} has no {string.Join(", ", missing)}; pass the folder that contains libtorch.so (for pip's PyTorch: <site-packages>/torch/lib)");

        var (version, versionFile) = FindVersion(dir)
            ?? throw new LibTorchLoadException($"{source}: cannot tell the libtorch version of {dir}: none of {string.Join(", ", VersionCandidates(dir))} exists or holds a version. " +
                $"TorchSharp 0.107 needs libtorch {ExpectedVersion.Major}.{ExpectedVersion.Minor}.x");
        if (!IsCompatible(version.Version))
            throw new LibTorchLoadException($"{source}: libtorch in {dir} is version {version.Text} (from {versionFile}) but TorchSharp 0.107 needs {ExpectedVersion.Major}.{ExpectedVersion.Minor}.x; " +
                $"install PyTorch {ExpectedVersion.Major}.{ExpectedVersion.Minor} or use the bundled libtorch (unset {EnvironmentVariable})");

        var order = new List<string> { "libc10.so" };
        bool cuda = File.Exists(Path.Combine(dir, "libtorch_cuda.so"));
        order.Add("libtorch_cpu.so");
        if (cuda)
        {
            if (File.Exists(Path.Combine(dir, "libc10_cuda.so"))) order.Add("libc10_cuda.so");
            order.Add("libtorch_cuda.so");
        }
        order.Add("libtorch.so");
        return new LibTorchInstall(dir, version, versionFile, cuda, order.Select(f => Path.Combine(dir, f)).ToArray());
    }

    /// <summary>True when <paramref name="version"/> can host TorchSharp 0.107's native library (same major.minor).</summary>
    public static bool IsCompatible(Version version) => version.Major == ExpectedVersion.Major && version.Minor == ExpectedVersion.Minor;

    /// <summary>The files that may record a libtorch directory's version, in the order they are read: a PyTorch wheel's
    /// <c>torch/version.py</c> (<c>__version__ = '2.10.0+cu128'</c>) beside <c>torch/lib</c>, an unpacked libtorch's
    /// <c>build-version</c> beside <c>lib</c> or in the directory itself, and the wheel's <c>torch-*.dist-info/METADATA</c>.</summary>
    public static IEnumerable<string> VersionCandidates(string directory)
    {
        string dir = Path.GetFullPath(directory);
        string parent = Path.GetDirectoryName(dir.TrimEnd(Path.DirectorySeparatorChar)) ?? dir;
        yield return Path.Combine(parent, "version.py");
        yield return Path.Combine(parent, "build-version");
        yield return Path.Combine(dir, "build-version");
        string sitePackages = Path.GetDirectoryName(parent) ?? parent;
        yield return Path.Combine(sitePackages, "torch-*.dist-info", "METADATA");
    }

    /// <summary>The version recorded next to a libtorch directory and the file it came from, or null.</summary>
    public static (LibTorchVersion Version, string File)? FindVersion(string directory)
    {
        foreach (string candidate in VersionCandidates(directory))
        {
            foreach (string file in Expand(candidate))
            {
                string text;
                try { text = File.ReadAllText(file); }
                catch (IOException) { continue; }
                catch (UnauthorizedAccessException) { continue; }
                LibTorchVersion? v = Path.GetFileName(file) switch
                {
                    "version.py" => ParseVersionPy(text),
                    "METADATA" => ParseMetadata(text),
                    _ => LibTorchVersion.TryParse(text.Trim()),
                };
                if (v is not null) return (v, file);
            }
        }
        return null;
    }

    private static IEnumerable<string> Expand(string pattern)
    {
        string? folder = Path.GetDirectoryName(pattern);
        if (folder is null) yield break;
        string leaf = Path.GetFileName(folder);
        if (leaf.Contains('*', StringComparison.Ordinal))
        {
            string? root = Path.GetDirectoryName(folder);
            if (root is null || !Directory.Exists(root)) yield break;
            foreach (string d in Directory.GetDirectories(root, leaf).OrderBy(d => d, StringComparer.Ordinal))
            {
                string f = Path.Combine(d, Path.GetFileName(pattern));
                if (File.Exists(f)) yield return f;
            }
        }
        else if (File.Exists(pattern)) yield return pattern;
    }

    /// <summary>The <c>__version__</c> of a PyTorch <c>version.py</c>.</summary>
    public static LibTorchVersion? ParseVersionPy(string text)
    {
        Match m = Regex.Match(text, @"^__version__\s*=\s*['""]([^'""]+)['""]", RegexOptions.Multiline);
        return m.Success ? LibTorchVersion.TryParse(m.Groups[1].Value) : null;
    }

    /// <summary>The <c>Version:</c> header of a wheel's METADATA.</summary>
    public static LibTorchVersion? ParseMetadata(string text)
    {
        Match m = Regex.Match(text, @"^Version:\s*(\S+)", RegexOptions.Multiline);
        return m.Success ? LibTorchVersion.TryParse(m.Groups[1].Value) : null;
    }

    /// <summary>Where a build that bundles libtorch keeps it (next to the app or under runtimes/*/native), or null.</summary>
    public static string? BundledLibTorch(string appDirectory)
    {
        string direct = Path.Combine(appDirectory, "libtorch_cpu.so");
        if (File.Exists(direct)) return direct;
        string runtimes = Path.Combine(appDirectory, "runtimes");
        if (!Directory.Exists(runtimes)) return null;
        return Directory.GetFiles(runtimes, "libtorch_cpu.so", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).FirstOrDefault();
    }
}

/// <summary>A libtorch version as PyTorch writes it: <c>2.10.0</c>, <c>2.10.0+cu128</c>, <c>2.10.0a0+git1234</c>.</summary>
/// <param name="Version">major.minor.patch</param>
/// <param name="Text">The text as found.</param>
public sealed record LibTorchVersion(Version Version, string Text)
{
    /// <summary>The local tag after '+', e.g. "cu128" or "cpu"; empty when absent.</summary>
    public string Local => Text.Contains('+', StringComparison.Ordinal) ? Text[(Text.IndexOf('+', StringComparison.Ordinal) + 1)..] : "";

    /// <summary>Parses <c>major.minor[.patch][suffix][+local]</c>; null when the text does not start with a version.</summary>
    public static LibTorchVersion? TryParse(string text)
    {
        Match m = Regex.Match(text.Trim(), @"^(\d+)\.(\d+)(?:\.(\d+))?(?:[A-Za-z0-9.\-]*)?(?:\+[A-Za-z0-9.\-_]+)?$");
        if (!m.Success) return null;
        int major = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        int minor = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        int patch = m.Groups[3].Success ? int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) : 0;
        return new LibTorchVersion(new Version(major, minor, patch), text.Trim());
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}

/// <summary>A checked libtorch directory.</summary>
/// <param name="Directory">Full path of the folder holding libtorch.so.</param>
/// <param name="Version">Its version.</param>
/// <param name="VersionFile">The file the version was read from.</param>
/// <param name="HasCuda">True when it carries libtorch_cuda.so.</param>
/// <param name="LoadOrder">The libraries to load, dependencies first.</param>
public sealed record LibTorchInstall(string Directory, LibTorchVersion Version, string VersionFile, bool HasCuda, IReadOnlyList<string> LoadOrder);

/// <summary>libtorch could not be loaded from the requested place; the message names the directory and the fix.</summary>
public sealed class LibTorchLoadException : Exception
{
    /// <summary>A load failure; <paramref name="message"/> names the directory tried and the fix.</summary>
    public LibTorchLoadException(string message) : base(message) { }
}
