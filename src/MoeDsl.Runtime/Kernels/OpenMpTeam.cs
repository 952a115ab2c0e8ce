using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;

namespace MoeDsl.Runtime.Kernels;

/// <summary>Runs the kernels' row ranges on libtorch's own OpenMP thread team (libgomp's <c>GOMP_parallel</c>), the
/// threads torch's GEMMs and element-wise ops use. After each parallel torch op libgomp's workers keep spinning on
/// their cores for a while; a .NET thread-pool worker started then competes with them for the same core and adds
/// nothing (with two cores, the SwiGLU backward kernel took about twice as long with two .NET workers right after a GEMM
/// as alone). Handing the work to the spinning team itself removes that contention. Linux only, and only
/// when the process has exactly one libgomp mapped next to libtorch_cpu (the bundled libtorch or an external one);
/// otherwise, or with <c>MOEDSL_KERNEL_POOL=dotnet</c>, <see cref="ExpertKernels"/> uses <c>Parallel.For</c>.
/// Rows are handed out in chunks from a shared counter, so a worker that joins late takes less.</summary>
internal static unsafe class OpenMpTeam
{
    private static readonly delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void> GompParallel;
    private static readonly string? LibraryPath;

    static OpenMpTeam()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MOEDSL_KERNEL_POOL") == "dotnet") return;
        try
        {
            LibraryPath = FindTorchLibgomp();
            if (LibraryPath is null || !NativeLibrary.TryLoad(LibraryPath, out IntPtr handle)) return;
            if (NativeLibrary.TryGetExport(handle, "GOMP_parallel", out IntPtr parallel))
                GompParallel = (delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void>)parallel;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /proc/self/maps unreadable (a sandbox): the kernels stay on Parallel.For.
        }
    }

    /// <summary>Whether the kernels run on torch's OpenMP team in this process.</summary>
    public static bool Available => GompParallel != null;

    /// <summary>The libgomp the team comes from (null when not <see cref="Available"/>).</summary>
    public static string? Library => Available ? LibraryPath : null;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, rows) in chunks of <paramref name="chunk"/> rows on
    /// <paramref name="threads"/> team threads (the caller is thread 0). False when the team is not available.</summary>
    public static bool TryRun(long rows, long chunk, int threads, Action<long, long> body)
    {
        if (!Available) return false;
        var job = new Job(rows, chunk, body);
        GCHandle handle = GCHandle.Alloc(job);
        try
        {
            GompParallel(&Entry, GCHandle.ToIntPtr(handle), (uint)threads, 0);
        }
        finally
        {
            handle.Free();
        }
        if (job.Error is not null) throw new InvalidOperationException("a kernel failed on an OpenMP thread", job.Error);
        return true;
    }

    [UnmanagedCallersOnly]
    private static void Entry(IntPtr data)
    {
        var job = (Job)GCHandle.FromIntPtr(data).Target!;
        try
        {
            long chunks = (job.Rows + job.Chunk - 1) / job.Chunk;
            for (long c = Interlocked.Increment(ref job.Next) - 1; c < chunks; c = Interlocked.Increment(ref job.Next) - 1)
                job.Body(c * job.Chunk, Math.Min(job.Rows, (c + 1) * job.Chunk));
        }
        catch (Exception e)
        {
            // Nothing may unwind into libgomp: keep the first error for the caller.
            Interlocked.CompareExchange(ref job.Error, e, null);
        }
    }

    /// <summary>The libgomp mapped into this process from libtorch_cpu's folder, or the only libgomp mapped.</summary>
    private static string? FindTorchLibgomp()
    {
        var mapped = File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/') is int i and >= 0 ? line[i..] : null)
            .Where(path => path is not null)
            .Distinct()
            .ToList();
        var gomps = mapped.Where(p => Path.GetFileName(p!).StartsWith("libgomp", StringComparison.Ordinal)).ToList();
        var torchDirs = mapped.Where(p => Path.GetFileName(p!) == "libtorch_cpu.so").Select(Path.GetDirectoryName).ToHashSet();
        var beside = gomps.Where(g => torchDirs.Contains(Path.GetDirectoryName(g))).ToList();
        if (beside.Count == 1) return beside[0];
        return gomps.Count == 1 ? gomps[0] : null;
    }

    private sealed class Job
    {
        public readonly long Rows;
        public readonly long Chunk;
        public readonly Action<long, long> Body;
        public long Next;
        public Exception? Error;

        public Job(long rows, long chunk, Action<long, long> body)
        {
            Rows = rows;
            Chunk = chunk;
            Body = body;
        }
    }
}
