using System;
using MoeDsl.Runtime.Native;
using Xunit;

namespace MoeDsl.Runtime.Tests.Native;

/// <summary>The glibc malloc settings are applied when the runtime loads (unless MOEDSL_MALLOC=system).</summary>
public sealed class CpuAllocatorTests
{
    [SkippableFact]
    public void SettingsAreInEffectOnGlibcLinux()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "mallopt is glibc's");
        Skip.If(string.Equals(Environment.GetEnvironmentVariable(CpuAllocator.EnvironmentVariable), "system", StringComparison.OrdinalIgnoreCase), "MOEDSL_MALLOC=system");
        Assert.True(CpuAllocator.Configured, "mallopt(M_MMAP_THRESHOLD / M_TRIM_THRESHOLD / M_MMAP_MAX) did not take effect");
    }
}
