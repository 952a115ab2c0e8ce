using System;
using System.Globalization;
using System.IO;

namespace MoeDsl.Benchmarks;

/// <summary>This process's resident memory (current and peak) from Linux's /proc, for the memory and flatness figures.</summary>
internal static class ProcMemory
{
    public static long Rss() => Field("VmRSS:");
    public static long Peak() => Field("VmHWM:");

    /// <summary>Resets VmHWM to the current RSS (Linux 4.0+).</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    /// <summary>Runs the .NET collector and the finalizers before a reading, so that tensors no longer referenced but
    /// not yet finalized do not count.</summary>
    public static void CollectGarbage()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    private static long Field(string name)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(name, StringComparison.Ordinal))
                return long.Parse(line.AsSpan(name.Length).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {name}");
    }
}
