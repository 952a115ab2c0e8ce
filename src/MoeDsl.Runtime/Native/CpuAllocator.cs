using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MoeDsl.Runtime.Native;

/// <summary>glibc malloc settings for libtorch's CPU tensors, applied once when the runtime assembly loads (Linux/glibc).
/// libtorch allocates every CPU tensor with <c>posix_memalign</c> and frees it at once; a train step allocates and frees
/// the same few hundred buffers every time. With glibc's defaults the large ones come from fresh <c>mmap</c>s (every
/// buffer above the mmap threshold: 128 KiB, adapting up to 32 MiB), or from heap memory that <c>free</c> just trimmed back
/// to the kernel, so every step page-faults and zeroes its activations again. Measured (bench/README.md, 2026-12-02):
/// quick plain-LoRA step at 2 threads 390 -> 227 ms with the trim and 32 MiB threshold settings; full shape (the
/// [2048, 32000] logits and their gradients are 262 MB each) 7.9 -> 6.1 s per step and a third less system time with mmap
/// off, peak RSS +4%. So: no mmap for allocations (<c>M_MMAP_MAX</c> 0: every buffer comes from, and returns to, the
/// heap), and no trimming of the heap (<c>M_TRIM_THRESHOLD</c>), as PyTorch's caching allocators do on GPUs: freed memory
/// stays with the process for the next step (the resident size stays at its peak; the peak itself hardly moves).
/// Set <c>MOEDSL_MALLOC=system</c> to keep glibc's defaults.</summary>
public static class CpuAllocator
{
    /// <summary>The environment variable that turns the settings off (<c>system</c>).</summary>
    public const string EnvironmentVariable = "MOEDSL_MALLOC";

    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_THRESHOLD = -3;
    private const int M_MMAP_MAX = -4;
    /// <summary>glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).</summary>
    private const int MmapThreshold = 32 * 1024 * 1024;

    /// <summary>Whether the settings are in effect in this process.</summary>
    public static bool Configured { get; private set; }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int param, int value);

    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries",
        Justification = "The allocator settings must precede the first tensor of the process; every entry point (library, CLI, tests) loads this assembly first.")]
    [ModuleInitializer]
    internal static void Configure()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (string.Equals(Environment.GetEnvironmentVariable(EnvironmentVariable), "system", StringComparison.OrdinalIgnoreCase)) return;
        try
        {
            // mallopt returns 1 on success; musl's is a stub returning 0 (nothing to configure there).
            // The threshold matters where mmap stays allowed (a later mallopt or MALLOC_MMAP_MAX_ raising it again).
            Configured = Mallopt(M_MMAP_THRESHOLD, MmapThreshold) == 1 & Mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1 & Mallopt(M_MMAP_MAX, 0) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            Configured = false;
        }
    }
}
