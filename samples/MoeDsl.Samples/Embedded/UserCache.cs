using System;
using System.IO;

namespace MoeDsl.Samples.Embedded;

/// <summary>The per-user cache folder of MoeDsl, shared by every program of that user (the moedsl tool, the examples,
/// user programs): <c>$XDG_CACHE_HOME/moedsl</c> when that variable holds an absolute path (the XDG Base Directory rule:
/// a relative one is ignored), else <c>~/.cache/moedsl</c>; on Windows <c>%LOCALAPPDATA%\moedsl</c>.</summary>
public static class UserCache
{
    /// <summary>The XDG variable naming the user's cache root.</summary>
    public const string XdgVariable = "XDG_CACHE_HOME";

    /// <summary>The cache folder for this process's user.</summary>
    public static string Root => RootFor(Environment.GetEnvironmentVariable, OperatingSystem.IsWindows());

    /// <summary>The cache folder given the environment (<paramref name="environment"/> reads a variable; null when unset).</summary>
    public static string RootFor(Func<string, string?> environment, bool windows)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (windows)
            return Path.Combine(environment("LOCALAPPDATA") is { Length: > 0 } local ? local : Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "moedsl");
        if (environment(XdgVariable) is { Length: > 0 } xdg && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "moedsl");
        string home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".cache", "moedsl");
    }
}
