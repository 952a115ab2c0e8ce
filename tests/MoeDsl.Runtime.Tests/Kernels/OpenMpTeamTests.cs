using System;
using System.Threading;
using MoeDsl.Runtime.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Kernels;

/// <summary>The kernels' parallel runner on libtorch's own OpenMP team.</summary>
public sealed class OpenMpTeamTests
{
    /// <summary>On Linux with the bundled libtorch the team is found: exactly one libgomp beside libtorch_cpu.</summary>
    [SkippableFact]
    public void TeamIsFoundBesideLibtorchOnLinux()
    {
        using Tensor _ = zeros(1);   // libtorch (and its libgomp) loaded
        Skip.IfNot(OperatingSystem.IsLinux(), "libgomp is looked up in /proc/self/maps (Linux only)");
        Assert.True(OpenMpTeam.Available, "no libgomp found beside libtorch_cpu.so in /proc/self/maps");
        Assert.StartsWith("libgomp", System.IO.Path.GetFileName(OpenMpTeam.Library!));
    }

    /// <summary>Every row is visited exactly once, whatever thread takes which chunk (chunk 7 does not divide 1,000).</summary>
    [SkippableFact]
    public void EveryRowRunsExactlyOnce()
    {
        using Tensor _ = zeros(1);
        Skip.IfNot(OpenMpTeam.Available, "no OpenMP team (libgomp) beside libtorch in this process");
        var visits = new int[1000];
        Assert.True(OpenMpTeam.TryRun(visits.Length, 7, 2, (start, end) =>
        {
            for (long r = start; r < end; r++) Interlocked.Increment(ref visits[r]);
        }));
        Assert.All(visits, v => Assert.Equal(1, v));
    }

    /// <summary>An exception on a team thread comes back to the caller as an error, not a crash in native code.</summary>
    [SkippableFact]
    public void AnExceptionOnATeamThreadReachesTheCaller()
    {
        using Tensor _ = zeros(1);
        Skip.IfNot(OpenMpTeam.Available, "no OpenMP team (libgomp) beside libtorch in this process");
        var e = Assert.Throws<InvalidOperationException>(() => OpenMpTeam.TryRun(100, 10, 2, (start, _) =>
        {
            if (start == 50) throw new ArgumentException("row 50");
        }));
        Assert.IsType<ArgumentException>(e.InnerException);
    }

    /// <summary>A kernel split over the team (300 tokens: 19 chunks of 16 rows, torch threads as set) equals the
    /// TorchSharp reference.</summary>
    [Fact]
    public void GatherSumOverTheTeamEqualsIndexAdd()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        const int t = 300, k = 2, width = 45;
        Tensor rows = randn(new long[] { t * k, width }, generator: g);
        Tensor at = randperm(t * k, generator: g);                     // row of pair (token, slot)
        Tensor w = rand(new long[] { t * k }, generator: g);
        Tensor output = empty(t, width);
        ExpertKernels.GatherSum(rows, at, w, k, output);
        Tensor token = arange(t * k).div(k, rounding_mode: RoundingMode.floor);
        Tensor expected = zeros(t, width).index_add_(0, token, rows.index_select(0, at) * w.unsqueeze(1), 1.0);
        Assert.True((output - expected).abs().max().item<float>() < 1e-5f);
    }
}
