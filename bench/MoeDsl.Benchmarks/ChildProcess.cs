using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;

namespace MoeDsl.Benchmarks;

/// <summary>Starts this benchmark's own executable again as a child process, for figures that need a fresh process per
/// measurement.</summary>
internal static class ChildProcess
{
    /// <summary>Runs this executable with <paramref name="arguments"/> (through the <c>dotnet</c> host when this process
    /// runs as <c>dotnet MoeDsl.Benchmarks.dll</c>), waits for it and returns its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(IEnumerable<string> arguments)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        foreach (string arg in arguments) psi.ArgumentList.Add(arg);
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {self}");
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr);
    }
}
