using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>The GEMMs of a linear layer in fp32 on AVX-512 CPUs: the forward <c>x W^T</c>, the input gradient <c>dy W</c>
/// and the weight gradient <c>dy^T x</c>. libtorch hands them to MKL, which on AMD CPUs runs its AVX2 kernels: on the
/// 2-core Zen 5 test machine 80-86 GFLOP/s a core, where the core's 512-bit FMAs peak at 211 (measured 2026-12-02;
/// 256-bit: 106). This is a BLIS-style GEMM in 512-bit vectors: B is packed per thread into [KC, 64] panels (for
/// <c>x W^T</c> the panel is W's rows transposed, so no transposed copy of W is ever made), and a 6 x 64 micro-kernel
/// keeps its 24 accumulators in registers, each k step loading four B vectors and broadcasting six A values into 24 FMAs
/// (A read in place with any row and column stride, so <c>dy^T</c> needs no copy either). Tasks are panels of 64 output
/// columns, blocks of rows or slices of the depth (<see cref="Run"/>) over <see cref="ExpertKernels.Workers"/> threads
/// (torch's OpenMP team). The summation order differs from MKL's
/// (blocks of <see cref="KC"/> along k), so results agree with libtorch's to fp32 rounding, not bit for bit. Callers:
/// <see cref="WideLinear"/> (every frozen projection and the head through <see cref="FrozenMatVec.Linear"/>, the Graph
/// router's layers) and the fused expert FFN; <see cref="Covers"/> says when this path runs (elsewhere: libtorch).</summary>
public static unsafe class WideGemm
{
    private const int MR = 6, NR = 64;

    /// <summary>Depth of one packed panel: [256, 64] fp32 = 64 KiB, held in L2 while every row tile of A passes over it.</summary>
    internal const int KC = 256;

    /// <summary>Whether this CPU runs 512-bit vectors in hardware (AVX-512F, <see cref="ExpertKernels.Wide"/>): the only CPUs
    /// where this beats MKL.
    /// <c>MOEDSL_WIDE_GEMM=torch</c> turns the path off (libtorch's GEMM everywhere), for comparison.</summary>
    public static bool Available { get; } = ExpertKernels.Wide && Environment.GetEnvironmentVariable("MOEDSL_WIDE_GEMM") != "torch";

    /// <summary>Whether <c>x W^T</c> (<see cref="Linear"/>; x [..., in], W [out, in]) runs here: <see cref="Available"/>,
    /// both fp32, CPU, W a contiguous 2-D tensor, at least <see cref="MR"/> rows (fewer rows are a matrix-vector product:
    /// <see cref="FrozenMatVec"/>) and at least <see cref="MinMultiplyAdds"/> multiply-adds.</summary>
    public static bool Covers(Tensor x, Tensor weight) => Fits(x, weight, depthDimension: 1);

    /// <summary><see cref="Covers"/> for <c>dy W</c> (<see cref="InputGradient"/>; dy [..., out], W [out, in]); the same
    /// product size gates <see cref="WeightGradient"/> of that layer.</summary>
    public static bool CoversInputGradient(Tensor dy, Tensor weight) => Fits(dy, weight, depthDimension: 0);

    private static bool Fits(Tensor x, Tensor weight, int depthDimension)
        => Available && x.device_type == DeviceType.CPU && weight.device_type == DeviceType.CPU
           && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && weight.dim() == 2 && weight.is_contiguous()
           && x.dim() >= 1 && x.numel() > 0 && x.shape[^1] == weight.shape[depthDimension]
           && x.numel() / x.shape[^1] >= MR && x.numel() * (weight.numel() / x.shape[^1]) >= MinMultiplyAdds;

    /// <summary>Smallest product (multiply-adds) sent here: below it libtorch's per-call cost is lower (measured: a
    /// [77, 100] x [100, 70] product ran at 17 GFLOP/s here against 55 in libtorch).</summary>
    private const long MinMultiplyAdds = 1L << 22;

    /// <summary><c>x W^T</c> for x [..., in] and W [out, in]: returns [..., out] (no autograd: the caller records it).</summary>
    public static Tensor Linear(Tensor x, Tensor weight) => Product(x, weight, transposeWeight: true);

    /// <summary><c>dy W</c> for dy [..., out] and W [out, in]: returns [..., in], the input gradient of <c>x W^T</c>.</summary>
    public static Tensor InputGradient(Tensor dy, Tensor weight) => Product(dy, weight, transposeWeight: false);

    /// <summary><c>dy^T x</c> summed over every leading position, for dy [..., out] and x [..., in]: returns [out, in], the
    /// weight gradient of <c>x W^T</c>.</summary>
    public static Tensor WeightGradient(Tensor dy, Tensor x)
    {
        long n = x.shape[^1], m = dy.shape[^1];
        using Tensor a = dy.reshape(-1, m).contiguous(), b = x.reshape(-1, n).contiguous();
        long k = a.shape[0];
        if (b.shape[0] != k) throw new ArgumentException($"WideGemm.WeightGradient: dy has {k} rows of {m}, x {b.shape[0]} rows of {n}");
        Tensor dw = empty(m, n, dtype: ScalarType.Float32);
        Run(ExpertKernels.Data<float>(a), 1, m, ExpertKernels.Data<float>(b), n, false, ExpertKernels.Data<float>(dw), n, m, n, k);
        return dw;
    }

    /// <summary>x [..., K] times W^T (W [N, K]) or W (W [K, N]), as [..., N].</summary>
    private static Tensor Product(Tensor x, Tensor weight, bool transposeWeight)
    {
        long k = weight.shape[transposeWeight ? 1 : 0], n = weight.shape[transposeWeight ? 0 : 1];
        if (x.shape[^1] != k)
            throw new ArgumentException($"WideGemm.{(transposeWeight ? "Linear" : "InputGradient")}: the input has {x.shape[^1]} features, the weight [{weight.shape[0]}, {weight.shape[1]}] needs {k}");
        using Tensor a = x.reshape(-1, k).contiguous();
        long m = a.shape[0];
        long[] shape = (long[])x.shape.Clone();
        shape[^1] = n;
        Tensor y = empty(shape, dtype: ScalarType.Float32);
        Run(ExpertKernels.Data<float>(a), k, 1, ExpertKernels.Data<float>(weight), transposeWeight ? k : n, transposeWeight, ExpertKernels.Data<float>(y), n, m, n, k);
        GC.KeepAlive(weight);
        return y;
    }

    /// <summary>C [M, N] = A [M, K] B: A's element (i, q) at <c>a[i ars + q acs]</c>; B [K, N] is <paramref name="b"/>
    /// row-major (ldb its row stride) or, with <paramref name="bTransposed"/>, the transpose of <paramref name="b"/> [N, K]
    /// (ldb = K).</summary>
    /// <remarks>Three ways to share the product among the threads: by panels of 64 output columns when there are at
    /// least two per thread (every projection of the base model); else, for a product deeper than it is tall (a weight
    /// gradient <c>dy^T x</c> over many tokens), by slices of the depth, each thread summing its slice into a private
    /// [M, N] block and the blocks added at the end; else by blocks of rows, each with every panel. With few panels the
    /// column split had every thread stream all of A (1 MiB for the Graph router's [2048, 128] layer input, written
    /// token-interleaved by both threads the pass before; in the router those products took 0.47-0.65 ms against 0.36
    /// back to back on the same buffers): split by rows, each row of A is read once, on one thread.</remarks>
    private static void Run(float* a, long ars, long acs, float* b, long ldb, bool bTransposed, float* c, long ldc, long m, long n, long k)
    {
        long panels = (n + NR - 1) / NR;
        int threads = ExpertKernels.Workers;
        if (threads == 1 || panels >= 2 * threads)
        {
            ExpertKernels.ForRowRanges(panels, 1, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
                Block(a, ars, acs, b, ldb, bTransposed, c, ldc, 0, m, start, end, n, k));
            return;
        }
        if (k > m && k >= 2 * KC)
        {
            SplitDepth(a, ars, acs, b, ldb, bTransposed, c, ldc, m, n, k, threads);
            return;
        }
        long rowsPerTask = Math.Max(8 * MR, (m + 2 * threads - 1) / (2 * threads) + MR - 1) / MR * MR;
        ExpertKernels.ForRowRanges(m, rowsPerTask, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (m0, m1) =>
            Block(a, ars, acs, b, ldb, bTransposed, c, ldc, m0, m1, 0, panels, n, k));
    }

    /// <summary><see cref="Run"/> by slices of the depth: slice s (a multiple of <see cref="KC"/> long) sums into its own
    /// [M, N] block (the first into C itself), then the blocks are added into C, rows in parallel.</summary>
    private static void SplitDepth(float* a, long ars, long acs, float* b, long ldb, bool bTransposed, float* c, long ldc, long m, long n, long k, int threads)
    {
        long blocks = (k + KC - 1) / KC;
        int slices = (int)Math.Min(threads, blocks);
        long depth = (blocks + slices - 1) / slices * KC;
        slices = (int)((k + depth - 1) / depth);
        long panels = (n + NR - 1) / NR;
        float* partial = (float*)NativeMemory.AlignedAlloc((nuint)((slices - 1) * m * n * sizeof(float)), 64);
        try
        {
            ExpertKernels.ForRowRanges(slices, 1, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (s0, s1) =>
            {
                for (long slice = s0; slice < s1; slice++)
                {
                    long k0 = slice * depth, kLength = Math.Min(depth, k - k0);
                    float* bSlice = bTransposed ? b + k0 : b + k0 * ldb;
                    if (slice == 0) Block(a, ars, acs, bSlice, ldb, bTransposed, c, ldc, 0, m, 0, panels, n, kLength);
                    else Block(a + k0 * acs, ars, acs, bSlice, ldb, bTransposed, partial + (slice - 1) * m * n, n, 0, m, 0, panels, n, kLength);
                }
            });
            ExpertKernels.ForRowRanges(m, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r0, r1) =>
            {
                for (long r = r0; r < r1; r++)
                {
                    var row = new Span<float>(c + r * ldc, (int)n);
                    for (int slice = 1; slice < slices; slice++)
                    {
                        float* p = partial + ((slice - 1) * m + r) * n;
                        long j = 0;
                        for (; j + 16 <= n; j += 16) Vector512.Store(Vector512.Load(c + r * ldc + j) + Vector512.Load(p + j), c + r * ldc + j);
                        for (; j < n; j++) row[(int)j] += p[j];
                    }
                }
            });
        }
        finally
        {
            NativeMemory.AlignedFree(partial);
        }
    }

    /// <summary>C[m0..m1, panels p0..p1] = A[m0..m1, :k] B[:k, panels] (overwritten: the first depth block stores).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block(float* a, long ars, long acs, float* b, long ldb, bool bTransposed, float* c, long ldc, long m0, long m1, long p0, long p1, long n, long k)
    {
        float* pack = ThreadScratch(), edgeA = pack + KC * NR, edgeC = edgeA + MR * KC;
        for (long panel = p0; panel < p1; panel++)
        {
            long n0 = panel * NR, nr = Math.Min(NR, n - n0);
            for (long k0 = 0; k0 < k; k0 += KC)
            {
                long kc = Math.Min(KC, k - k0);
                if (bTransposed) PackTransposed(b + n0 * ldb + k0, ldb, nr, kc, pack);
                else PackRows(b + k0 * ldb + n0, ldb, nr, kc, pack);
                bool first = k0 == 0;
                long i0 = m0;
                if (nr == NR)
                    for (; i0 + MR <= m1; i0 += MR) Micro(a + i0 * ars + k0 * acs, ars, acs, pack, c + i0 * ldc + n0, ldc, kc, first);
                for (; i0 < m1; i0 += MR)
                {
                    // An edge tile (fewer than 6 rows or 64 columns): through zero-padded scratch.
                    long mr = Math.Min(MR, m1 - i0);
                    float* tileA = a + i0 * ars + k0 * acs;
                    long tileRows = ars, tileColumns = acs;
                    if (mr < MR)
                    {
                        new Span<float>(edgeA, MR * KC).Clear();
                        for (long i = 0; i < mr; i++)
                            for (long q = 0; q < kc; q++) edgeA[i * KC + q] = tileA[i * ars + q * acs];
                        tileA = edgeA;
                        tileRows = KC;
                        tileColumns = 1;
                    }
                    if (!first)
                        for (long i = 0; i < mr; i++) new Span<float>(c + (i0 + i) * ldc + n0, (int)nr).CopyTo(new Span<float>(edgeC + i * NR, (int)nr));
                    Micro(tileA, tileRows, tileColumns, pack, edgeC, NR, kc, first);
                    for (long i = 0; i < mr; i++) new Span<float>(edgeC + i * NR, (int)nr).CopyTo(new Span<float>(c + (i0 + i) * ldc + n0, (int)nr));
                }
            }
        }
    }

    // Each thread's packed panel and edge tiles (81 KiB), allocated on its first GEMM and kept while the thread lives
    // (torch's OpenMP workers and the caller's thread live as long as the process; a retired pool thread's block is freed
    // by the finaliser): a fresh 64 KiB block per call cost malloc consolidation and page faults at small shapes.
    [ThreadStatic] private static Scratch? threadScratch;

    private static float* ThreadScratch() => (threadScratch ??= new Scratch()).Memory;

    private sealed class Scratch
    {
        public readonly float* Memory = (float*)NativeMemory.AlignedAlloc((nuint)((KC * NR + MR * KC + MR * NR) * sizeof(float)), 64);

        ~Scratch() => NativeMemory.AlignedFree(Memory);
    }

    /// <summary>pack[k][j] = b[k ldb + j] for j &lt; nr, 0 for nr &lt;= j &lt; 64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackRows(float* b, long ldb, long nr, long kc, float* pack)
    {
        if (nr == NR)
        {
            for (long q = 0; q < kc; q++, b += ldb, pack += NR)
            {
                Vector512.Store(Vector512.Load(b), pack); Vector512.Store(Vector512.Load(b + 16), pack + 16);
                Vector512.Store(Vector512.Load(b + 32), pack + 32); Vector512.Store(Vector512.Load(b + 48), pack + 48);
            }
            return;
        }
        for (long q = 0; q < kc; q++, b += ldb, pack += NR)
            for (long j = 0; j < NR; j++) pack[j] = j < nr ? b[j] : 0f;
    }

    /// <summary>pack[k][j] = w[j ldw + k] for j &lt; nr (the rows of W transposed), 0 for nr &lt;= j &lt; 64: sixteen
    /// weight rows at a time, each read as 16-float vectors and written transposed through a 16 x 16 block in L1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposed(float* w, long ldw, long nr, long kc, float* pack)
    {
        float* block = stackalloc float[16 * 16];
        for (long j0 = 0; j0 < NR; j0 += 16)
        {
            long rows = Math.Clamp(nr - j0, 0, 16);
            long q = 0;
            for (; q + 16 <= kc; q += 16)
            {
                for (long j = 0; j < 16; j++)
                    Vector512.Store(j < rows ? Vector512.Load(w + (j0 + j) * ldw + q) : Vector512<float>.Zero, block + j * 16);
                for (long i = 0; i < 16; i++)
                {
                    float* dst = pack + (q + i) * NR + j0;
                    for (long j = 0; j < 16; j++) dst[j] = block[j * 16 + i];
                }
            }
            for (; q < kc; q++)
                for (long j = 0; j < 16; j++) pack[q * NR + j0 + j] = j < rows ? w[(j0 + j) * ldw + q] : 0f;
        }
    }

    /// <summary>C[6, 64] (+)= A[6, kc] pack[kc, 64] (A's element (i, q) at <c>a[i ars + q acs]</c>): 24 accumulators, per k
    /// four B loads and six broadcasts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro(float* a, long ars, long acs, float* b, float* c, long ldc, long kc, bool overwrite)
    {
        Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        if (overwrite)
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = Vector512<float>.Zero;
        else
        {
            float* r = c;
            c00 = Vector512.Load(r); c01 = Vector512.Load(r + 16); c02 = Vector512.Load(r + 32); c03 = Vector512.Load(r + 48); r += ldc;
            c10 = Vector512.Load(r); c11 = Vector512.Load(r + 16); c12 = Vector512.Load(r + 32); c13 = Vector512.Load(r + 48); r += ldc;
            c20 = Vector512.Load(r); c21 = Vector512.Load(r + 16); c22 = Vector512.Load(r + 32); c23 = Vector512.Load(r + 48); r += ldc;
            c30 = Vector512.Load(r); c31 = Vector512.Load(r + 16); c32 = Vector512.Load(r + 32); c33 = Vector512.Load(r + 48); r += ldc;
            c40 = Vector512.Load(r); c41 = Vector512.Load(r + 16); c42 = Vector512.Load(r + 32); c43 = Vector512.Load(r + 48); r += ldc;
            c50 = Vector512.Load(r); c51 = Vector512.Load(r + 16); c52 = Vector512.Load(r + 32); c53 = Vector512.Load(r + 48);
        }
        float* a0 = a, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars, a4 = a3 + ars, a5 = a4 + ars;
        for (long q = 0; q < kc; q++, b += NR, a0 += acs, a1 += acs, a2 += acs, a3 += acs, a4 += acs, a5 += acs)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16), b2 = Vector512.Load(b + 32), b3 = Vector512.Load(b + 48), x;
            x = Vector512.Create(*a0);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01); c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(*a1);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11); c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(*a2);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21); c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(*a3);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31); c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            x = Vector512.Create(*a4);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41); c42 = Vector512.FusedMultiplyAdd(x, b2, c42); c43 = Vector512.FusedMultiplyAdd(x, b3, c43);
            x = Vector512.Create(*a5);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51); c52 = Vector512.FusedMultiplyAdd(x, b2, c52); c53 = Vector512.FusedMultiplyAdd(x, b3, c53);
        }
        float* o = c;
        Vector512.Store(c00, o); Vector512.Store(c01, o + 16); Vector512.Store(c02, o + 32); Vector512.Store(c03, o + 48); o += ldc;
        Vector512.Store(c10, o); Vector512.Store(c11, o + 16); Vector512.Store(c12, o + 32); Vector512.Store(c13, o + 48); o += ldc;
        Vector512.Store(c20, o); Vector512.Store(c21, o + 16); Vector512.Store(c22, o + 32); Vector512.Store(c23, o + 48); o += ldc;
        Vector512.Store(c30, o); Vector512.Store(c31, o + 16); Vector512.Store(c32, o + 32); Vector512.Store(c33, o + 48); o += ldc;
        Vector512.Store(c40, o); Vector512.Store(c41, o + 16); Vector512.Store(c42, o + 32); Vector512.Store(c43, o + 48); o += ldc;
        Vector512.Store(c50, o); Vector512.Store(c51, o + 16); Vector512.Store(c52, o + 32); Vector512.Store(c53, o + 48);
    }
}
