using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>Fused element-wise CPU kernels of the MixLoRA FFN: each replaces a chain of TorchSharp ops
/// that would make one memory pass per op over a [pairs, intermediate] tensor with one pass that keeps the
/// intermediates in registers (Vector256, FMA where the JIT has it), rows split over <c>torch.get_num_threads()</c>
/// workers. fp32, CPU, contiguous only: <see cref="Supports"/> says when a caller may use them; everything else runs the
/// equivalent TorchSharp ops. Every loop is JIT-compiled fully optimised on first use (AggressiveOptimization: tier-0 SIMD
/// code would be several times slower for the first calls). Memory is reached through TorchSharp's own native accessor <c>THSTensor_data</c>
/// (the export its <c>TensorAccessor</c> uses), on tensors this code allocated or checked.</summary>
public static unsafe class ExpertKernels
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    private const int RowsPerTask = 16;

    private static readonly int? EnvironmentWorkers =
        Environment.GetEnvironmentVariable("MOEDSL_KERNEL_THREADS") is string v && int.TryParse(v, out int n) && n > 0 ? n : null;
    private static int? workers;

    /// <summary>Worker threads of the kernels: set here, else MOEDSL_KERNEL_THREADS, else torch.get_num_threads() at each
    /// call (so it follows torch.set_num_threads). Values below 1 are refused.</summary>
    public static int Workers
    {
        get => workers ?? EnvironmentWorkers ?? Math.Max(1, torch.get_num_threads());
        set => workers = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "ExpertKernels.Workers must be at least 1");
    }

    /// <summary>Whether this CPU runs the kernels' 256-bit vectors and fused multiply-adds in hardware (x86-64 with AVX2 and
    /// FMA3). Elsewhere (Arm64, where Vector256 is emulated, or a JIT told not to use AVX2) the callers take their
    /// TorchSharp-op paths instead: the same math, no emulated vectors.</summary>
    public static bool Accelerated { get; } = Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported;

    /// <summary>Whether the rank-r loops run in 512-bit vectors (the four-pair tiles <see cref="LowRankTile"/> and
    /// <see cref="RowDotsTile"/>, <see cref="LowRank"/>'s row loop, the outer sums): AVX-512 in hardware (also
    /// <see cref="WideGemm"/>'s condition). On the 2-core Zen 5 test machine a 512-bit FMA does twice a 256-bit one's work
    /// at the same rate (measured peak 211 vs 106 GFLOP/s a core); the tiles cut the rank loops from 27.7 to ~9 CPU-ms of a
    /// quick MixLoRA step (bench README, session 10). Without AVX-512 the tiles run their rows through the 256-bit row
    /// loops (<see cref="LowRank"/>, <see cref="RowDots"/>); the element-wise passes are 256-bit everywhere.</summary>
    internal static bool Wide { get; } = Accelerated && Vector512.IsHardwareAccelerated;

    /// <summary>One line for run logs: whether the kernels run, and on which threads.</summary>
    public static string Describe()
        => !Accelerated ? "off (no AVX2/FMA in hardware: TorchSharp ops instead)"
         : OpenMpTeam.Available ? $"AVX2+FMA, {Workers} thread(s) on torch's OpenMP team ({Path.GetFileName(OpenMpTeam.Library)})"
         : $"AVX2+FMA, {Workers} thread(s) on the .NET thread pool";

    /// <summary>Whether the kernels can run on these tensors: <see cref="Accelerated"/>, CPU, fp32 (the caller checks its
    /// masks and indices).</summary>
    public static bool Supports(Tensor t) => Accelerated && t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32;

    /// <summary>The pairs' SwiGLU from the frozen outputs, without materialising the pre-activations, and each pair's
    /// down-LoRA input activations: for pair p of expert e = <c>pairRow[p] mod E</c> and token <c>token[p]</c>,
    /// <code>
    /// g = g0[token] + sum_j pairA[p, j] gateBt[e r + j]        (j &lt; r; pairA's first r columns)
    /// u = u0[token] + sum_j pairA[p, r + j] upBt[e r + j]
    /// h[p] = silu(g) u
    /// pairDownA[p, j] = sum_i downA[e r + j, i] h~[i]           (h~ = h keep[p] keepScale, or h without a mask)
    /// </code>
    /// g, u and h~ live in row-sized scratch (L1/L2), so the pass reads two frozen rows and writes one. g0, u0 [T, I];
    /// token, pairRow int64 [P]; pairA [P, 2r]; gateBt, upBt, downA [E*r, I]; h [P, I]; keep bool [P, I] or null;
    /// pairDownA [P, r].</summary>
    public static void SwiGluFromFrozen(Tensor g0, Tensor u0, Tensor token, Tensor pairRow, int experts, Tensor pairA, Tensor gateBt, Tensor upBt, int rank, Tensor h,
        Tensor downA, Tensor? keep, float keepScale, Tensor pairDownA)
    {
        long rows = h.shape[0], width = h.shape[1];
        var f = new FrozenRows(g0, u0, token, pairRow, experts, pairA, gateBt, upBt, rank, rows, width);
        Check(h, ScalarType.Float32, rows, width);
        Check(downA, ScalarType.Float32, (long)experts * rank, width);
        if (keep is not null) Check(keep, ScalarType.Bool, rows, width);
        Check(pairDownA, ScalarType.Float32, rows, rank);
        float* hp = Data<float>(h), ad = Data<float>(downA), pd = Data<float>(pairDownA);
        byte* m = keep is null ? null : Data<byte>(keep);
        long* prow = Data<long>(pairRow);
        ForRowRanges(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            using var scratch = new Scratch(3 * Tile, width);
            float** hv = stackalloc float*[Tile], dv = stackalloc float*[Tile];
            for (long r = start, n; r < end; r += n)
            {
                n = TileRows(prow, experts, r, end);
                f.Rows(r, (int)n, scratch[0], scratch[Tile]);
                for (int q = 0; q < n; q++)
                {
                    float* g = scratch[q], u = scratch[Tile + q], hs = scratch[2 * Tile + q];
                    float* hr = hp + (r + q) * width;
                    byte* mr = m is null ? null : m + (r + q) * width;
                    long i = 0;
                    for (; i + 8 <= width; i += 8)
                    {
                        Vector256<float> z = Vector256.Load(g + i);
                        Vector256<float> h8 = z * Sigmoid(z) * Vector256.Load(u + i);
                        Vector256.Store(h8, hr + i);
                        if (mr is not null) Vector256.Store(h8 * Mask(mr + i, keepScale), hs + i);
                    }
                    for (; i < width; i++)
                    {
                        hr[i] = g[i] * Sigmoid(g[i]) * u[i];
                        if (mr is not null) hs[i] = mr[i] != 0 ? hr[i] * keepScale : 0f;
                    }
                    hv[q] = mr is null ? hr : hs;
                    dv[q] = pd + (r + q) * rank;
                }
                RowDotsTile(hv, dv, (int)n, ad + prow[r] % experts * rank * width, rank, width);
            }
        });
    }

    /// <summary>Each pair's rank-wide LoRA input activations on its expert: for pair p of expert e = <c>pairRow[p] mod E</c>
    /// and token t = <c>token[p]</c>, <c>output[p, j] = scale sum_i gateUpA[e 2r + j, i] x~[i]</c> for j &lt; 2r, where
    /// x~ = x[t], or with a keep-mask the gate half (j &lt; r) reads <c>x[t] keep[p, 0] keepScale</c> and the up half
    /// <c>x[t] keep[p, 1] keepScale</c> (each pair's own LoRA dropout, <c>MixLoraDropout</c>). The per-expert GEMMs this
    /// replaces were P d 2r multiply-adds in 2E small calls plus a gathered and two masked [P, d] copies. x [T, d]; token,
    /// pairRow int64 [P]; keep bool [P, 2, d] (sorted like the pairs) or null; gateUpA [E*2r, d]; output [P, 2r].</summary>
    public static void PairInputActivations(Tensor x, Tensor token, Tensor pairRow, int experts, Tensor? keep, float keepScale, Tensor gateUpA, int rank, float scale, Tensor output)
    {
        long rows = output.shape[0], width = x.shape[1];
        Check(x, ScalarType.Float32, x.shape[0], width);
        Check(token, ScalarType.Int64, rows);
        Check(pairRow, ScalarType.Int64, rows);
        if (keep is not null) Check(keep, ScalarType.Bool, rows, 2, width);
        Check(gateUpA, ScalarType.Float32, 2L * experts * rank, width);
        Check(output, ScalarType.Float32, rows, 2L * rank);
        float* xp = Data<float>(x), ap = Data<float>(gateUpA), op = Data<float>(output);
        byte* m = keep is null ? null : Data<byte>(keep);
        long* tok = Data<long>(token), prow = Data<long>(pairRow);
        ForRowRanges(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            using var scratch = new Scratch(2 * Tile, width);
            float** vg = stackalloc float*[Tile], vu = stackalloc float*[Tile], og = stackalloc float*[Tile], ou = stackalloc float*[Tile];
            for (long r = start, n; r < end; r += n)
            {
                n = TileRows(prow, experts, r, end);
                float* a = ap + prow[r] % experts * 2 * rank * width;
                for (int q = 0; q < n; q++)
                {
                    float* xr = xp + tok[r + q] * width;
                    og[q] = op + (r + q) * 2 * rank;
                    ou[q] = og[q] + rank;
                    if (m is null) vg[q] = xr;
                    else
                    {
                        byte* mg = m + (r + q) * 2 * width;
                        MaskRow(xr, mg, keepScale, width, vg[q] = scratch[q]);
                        MaskRow(xr, mg + width, keepScale, width, vu[q] = scratch[Tile + q]);
                    }
                }
                if (m is null) RowDotsTile(vg, og, (int)n, a, 2 * rank, width);
                else
                {
                    RowDotsTile(vg, og, (int)n, a, rank, width);
                    RowDotsTile(vu, ou, (int)n, a + rank * width, rank, width);
                }
                for (int q = 0; q < n; q++)
                    for (int j = 0; j < 2 * rank; j++) og[q][j] *= scale;
            }
        });
    }

    /// <summary>The input gradient through <see cref="PairInputActivations"/>, added per token without a scatter: for
    /// token t and its k pairs p = <c>at[t k + j]</c> of expert e,
    /// <c>gradX[t] += sum_j (sum_q gradPairA[p, q] gateUpA[e 2r + q])</c>, where with a keep-mask the gate half's sum
    /// (q &lt; r) is multiplied by <c>keep[p, 0] keepScale</c> and the up half's by <c>keep[p, 1] keepScale</c>.
    /// gradPairA [P, 2r] (the gradient of the scaled activations times the scale); at int64 [T*k]; pairRow int64 [P];
    /// gateUpA [E*2r, d]; keep bool [P, 2, d] or null; gradX [T, d], accumulated into.</summary>
    public static void PairInputGradient(Tensor gradPairA, Tensor at, Tensor pairRow, int experts, Tensor gateUpA, int rank, Tensor? keep, float keepScale, int k, Tensor gradX)
    {
        long tokens = gradX.shape[0], width = gradX.shape[1], pairs = gradPairA.shape[0];
        Check(gradPairA, ScalarType.Float32, pairs, 2L * rank);
        Check(at, ScalarType.Int64, tokens * k);
        Check(pairRow, ScalarType.Int64, pairs);
        Check(gateUpA, ScalarType.Float32, 2L * experts * rank, width);
        if (keep is not null) Check(keep, ScalarType.Bool, pairs, 2, width);
        Check(gradX, ScalarType.Float32, tokens, width);
        float* ga = Data<float>(gradPairA), ap = Data<float>(gateUpA), dx = Data<float>(gradX);
        byte* m = keep is null ? null : Data<byte>(keep);
        long* idx = Data<long>(at), prow = Data<long>(pairRow);
        ForRowRanges(tokens, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            using var scratch = new Scratch(2, width);
            float* sg = scratch[0], su = scratch[1];
            for (long t = start; t < end; t++)
            {
                float* o = dx + t * width;
                for (int j = 0; j < k; j++)
                {
                    long p = idx[t * k + j];
                    float* a = ap + prow[p] % experts * 2 * rank * width, q = ga + p * 2 * rank;
                    if (m is null)
                    {
                        LowRank(o, q, a, 2 * rank, width, o);
                        continue;
                    }
                    LowRank(null, q, a, rank, width, sg);
                    LowRank(null, q + rank, a + rank * width, rank, width, su);
                    byte* mg = m + p * 2 * width, mu = mg + width;
                    long i = 0;
                    for (; i + 8 <= width; i += 8)
                        Vector256.Store(Vector256.Load(o + i) + Vector256.Load(sg + i) * Mask(mg + i, keepScale) + Vector256.Load(su + i) * Mask(mu + i, keepScale), o + i);
                    for (; i < width; i++) o[i] += (mg[i] != 0 ? sg[i] * keepScale : 0f) + (mu[i] != 0 ? su[i] * keepScale : 0f);
                }
            }
        });
    }

    /// <summary>Each pair's masked inputs of its gate and up LoRA, <c>gateX[p] = x[token[p]] keep[p, 0] keepScale</c> and
    /// <c>upX[p] = x[token[p]] keep[p, 1] keepScale</c>, in one pass (the inputs of the experts' A gradients). x [T, d];
    /// token int64 [P]; keep bool [P, 2, d]; gateX, upX [P, d].</summary>
    public static void PairInputs(Tensor x, Tensor token, Tensor keep, float keepScale, Tensor gateX, Tensor upX)
    {
        long rows = gateX.shape[0], width = x.shape[1];
        Check(x, ScalarType.Float32, x.shape[0], width);
        Check(token, ScalarType.Int64, rows);
        Check(keep, ScalarType.Bool, rows, 2, width);
        Check(gateX, ScalarType.Float32, rows, width);
        Check(upX, ScalarType.Float32, rows, width);
        float* xp = Data<float>(x), gp = Data<float>(gateX), up = Data<float>(upX);
        byte* m = Data<byte>(keep);
        long* tok = Data<long>(token);
        ForRows(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (long r) =>
        {
            float* xr = xp + tok[r] * width;
            MaskRow(xr, m + r * 2 * width, keepScale, width, gp + r * width);
            MaskRow(xr, m + r * 2 * width + width, keepScale, width, up + r * width);
        });
    }

    /// <summary><c>output[t] = sum_j w[t k + j] rows[at[t k + j]]</c> (w = 1 when <paramref name="weights"/> is null): the
    /// weighted sum of each token's k pair rows, without a scatter (so without races). rows [P, I], at int64 [T*k],
    /// weights fp32 [T*k], output [T, I].</summary>
    public static void GatherSum(Tensor rows, Tensor at, Tensor? weights, int k, Tensor output)
    {
        long tokens = output.shape[0], width = output.shape[1];
        Check(rows, ScalarType.Float32, rows.shape[0], width);
        Check(at, ScalarType.Int64, tokens * k);
        if (weights is not null) Check(weights, ScalarType.Float32, tokens * k);
        Check(output, ScalarType.Float32, tokens, width);
        float* src = Data<float>(rows), dst = Data<float>(output);
        long* idx = Data<long>(at);
        float* w = weights is null ? null : Data<float>(weights);
        ForRows(tokens, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (long t) =>
        {
            float* o = dst + t * width;
            for (int j = 0; j < k; j++)
            {
                float* s = src + idx[t * k + j] * width;
                float wj = w is null ? 1f : w[t * k + j];
                var wv = Vector256.Create(wj);
                long i = 0;
                if (j == 0)
                {
                    for (; i + 8 <= width; i += 8) Vector256.Store(wv * Vector256.Load(s + i), o + i);
                    for (; i < width; i++) o[i] = wj * s[i];
                }
                else
                {
                    for (; i + 8 <= width; i += 8) Vector256.Store(Vector256.Load(o + i) + wv * Vector256.Load(s + i), o + i);
                    for (; i < width; i++) o[i] += wj * s[i];
                }
            }
        });
    }

    /// <summary>The experts' weight gradients as sums of outer products over their segments of expert-sorted pairs:
    /// <c>output[e outBlock + outOffset + j, i] = sum_{p in segment e} a[p, aColumn + j] b[p, i]</c> for j &lt; rank, where
    /// segment e is the <c>counts[e]</c> pairs after the earlier segments (an expert without pairs gets zeros). Each task
    /// owns one expert's block of 16 columns, so the sums are race-free and stay in registers (8 rank rows x 16 columns
    /// of accumulators per pass over the segment) — one call instead of a small GEMM per expert. a [P, Ca]; b [P, W];
    /// output [E*outBlock, W] (rows outside the written ones are left as they are).</summary>
    public static void SegmentOuterSums(Tensor a, int aColumn, int rank, Tensor b, long[] counts, Tensor output, int outBlock, int outOffset)
    {
        long pairs = b.shape[0], width = b.shape[1], aWidth = a.shape[1];
        int experts = counts.Length;
        Check(a, ScalarType.Float32, pairs, aWidth);
        Check(b, ScalarType.Float32, pairs, width);
        Check(output, ScalarType.Float32, (long)experts * outBlock, width);
        if (aColumn < 0 || aColumn + rank > aWidth || outOffset < 0 || outOffset + rank > outBlock)
            throw new ArgumentException($"SegmentOuterSums: columns [{aColumn}, {aColumn + rank}) of a [{pairs}, {aWidth}] into rows [{outOffset}, {outOffset + rank}) of blocks of {outBlock}");
        var offsets = new long[experts + 1];
        for (int e = 0; e < experts; e++) offsets[e + 1] = offsets[e] + counts[e];
        if (offsets[experts] != pairs) throw new ArgumentException($"SegmentOuterSums: the segments hold {offsets[experts]} pairs, b has {pairs}");
        float* ap = Data<float>(a), bp = Data<float>(b), op = Data<float>(output);
        int blockWidth = Wide ? 32 : 16;
        long blocks = (width + blockWidth - 1) / blockWidth;
        ForRowRanges(experts * blocks, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            for (long task = start; task < end; task++)
            {
                int e = (int)(task / blocks);
                long column = task % blocks * blockWidth, columns = Math.Min(blockWidth, width - column);
                float* aSeg = ap + offsets[e] * aWidth + aColumn, bSeg = bp + offsets[e] * width + column;
                float* o = op + ((long)e * outBlock + outOffset) * width + column;
                long count = offsets[e + 1] - offsets[e];
                int j = 0;
                if (columns == 32)
                    for (; j + 8 <= rank; j += 8) OuterSum8x32(aSeg + j, aWidth, bSeg, width, count, o + j * width);
                else if (columns == 16)
                    for (; j + 8 <= rank; j += 8) OuterSum8x16(aSeg + j, aWidth, bSeg, width, count, o + j * width);
                for (; j < rank; j++)
                    for (long i = 0; i < columns; i++)
                    {
                        float sum = 0;
                        for (long q = 0; q < count; q++) sum += aSeg[q * aWidth + j] * bSeg[q * width + i];
                        o[j * width + i] = sum;
                    }
            }
        });
    }

    /// <summary><see cref="OuterSum8x16"/> over 32 columns in 512-bit vectors (the 16 accumulators in registers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OuterSum8x32(float* a, long aStride, float* b, long bStride, long count, float* o)
    {
        Vector512<float> c00 = Vector512<float>.Zero, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        Vector512<float> c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (long q = 0; q < count; q++, a += aStride, b += bStride)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16), x;
            x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        long w = bStride;
        Vector512.Store(c00, o); Vector512.Store(c01, o + 16);
        Vector512.Store(c10, o + w); Vector512.Store(c11, o + w + 16);
        Vector512.Store(c20, o + 2 * w); Vector512.Store(c21, o + 2 * w + 16);
        Vector512.Store(c30, o + 3 * w); Vector512.Store(c31, o + 3 * w + 16);
        Vector512.Store(c40, o + 4 * w); Vector512.Store(c41, o + 4 * w + 16);
        Vector512.Store(c50, o + 5 * w); Vector512.Store(c51, o + 5 * w + 16);
        Vector512.Store(c60, o + 6 * w); Vector512.Store(c61, o + 6 * w + 16);
        Vector512.Store(c70, o + 7 * w); Vector512.Store(c71, o + 7 * w + 16);
    }

    /// <summary>Eight rows by sixteen columns of <see cref="SegmentOuterSums"/>: <c>o[j, i] = sum_q a[q, j] b[q, i]</c>,
    /// the 16 accumulators in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OuterSum8x16(float* a, long aStride, float* b, long bStride, long count, float* o)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        Vector256<float> c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        for (long q = 0; q < count; q++, a += aStride, b += bStride)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8), x;
            x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            x = Vector256.Create(a[6]); c60 = Vector256.FusedMultiplyAdd(x, b0, c60); c61 = Vector256.FusedMultiplyAdd(x, b1, c61);
            x = Vector256.Create(a[7]); c70 = Vector256.FusedMultiplyAdd(x, b0, c70); c71 = Vector256.FusedMultiplyAdd(x, b1, c71);
        }
        long w = bStride;
        Vector256.Store(c00, o); Vector256.Store(c01, o + 8);
        Vector256.Store(c10, o + w); Vector256.Store(c11, o + w + 8);
        Vector256.Store(c20, o + 2 * w); Vector256.Store(c21, o + 2 * w + 8);
        Vector256.Store(c30, o + 3 * w); Vector256.Store(c31, o + 3 * w + 8);
        Vector256.Store(c40, o + 4 * w); Vector256.Store(c41, o + 4 * w + 8);
        Vector256.Store(c50, o + 5 * w); Vector256.Store(c51, o + 5 * w + 8);
        Vector256.Store(c60, o + 6 * w); Vector256.Store(c61, o + 6 * w + 8);
        Vector256.Store(c70, o + 7 * w); Vector256.Store(c71, o + 7 * w + 8);
    }

    /// <summary>The SwiGLU backward of the MixLoRA FFN for every pair p in one pass, recomputing the pre-activations
    /// g, u as <see cref="SwiGluFromFrozen"/> does (in scratch, never stored) and the gradient reaching h~ through the
    /// down LoRA, <c>v = sum_j q[p, j] downA[e r + j]</c> (q [P, r] = dL/d(A_d h~)). Per element, with the optional bool
    /// keep-mask m of h~ and its scale c:
    /// <code>
    /// s = sigmoid(g), silu = g s, h = silu u, h~ = h m c
    /// dh = w_p dMixed[token] + v m c;  d up = dh silu;  d gate = dh u s (1 + g - silu)
    /// </code>
    /// Writes d gate, d up and h~ (all [P, I]) and <c>dMixed[token] . h</c> (the routing weight's gradient through W_d)
    /// into <paramref name="weightGrad"/> [P], and the gradient of the pair's rank-wide activations (unscaled),
    /// <c>gradPairA[p, j] = d gate . gateBt[e r + j]</c> and <c>gradPairA[p, r + j] = d up . upBt[e r + j]</c>.
    /// mixedGrad [T, I]; pairWeight [P]; gradPairA [P, 2r].</summary>
    public static void SwiGluBackwardFromFrozen(Tensor g0, Tensor u0, Tensor token, Tensor pairRow, int experts, Tensor pairA, Tensor gateBt, Tensor upBt, int rank,
        Tensor mixedGrad, Tensor pairWeight, Tensor q, Tensor downA, Tensor? keep, float scale, Tensor gradGate, Tensor gradUp, Tensor hidden, Tensor weightGrad, Tensor gradPairA)
    {
        long rows = gradGate.shape[0], width = gradGate.shape[1];
        var f = new FrozenRows(g0, u0, token, pairRow, experts, pairA, gateBt, upBt, rank, rows, width);
        Check(mixedGrad, ScalarType.Float32, mixedGrad.shape[0], width);
        Check(pairWeight, ScalarType.Float32, rows);
        Check(q, ScalarType.Float32, rows, rank);
        Check(downA, ScalarType.Float32, (long)experts * rank, width);
        if (keep is not null) Check(keep, ScalarType.Bool, rows, width);
        foreach (Tensor o in new[] { gradGate, gradUp, hidden }) Check(o, ScalarType.Float32, rows, width);
        Check(weightGrad, ScalarType.Float32, rows);
        Check(gradPairA, ScalarType.Float32, rows, 2L * rank);
        float* dm = Data<float>(mixedGrad), w = Data<float>(pairWeight), qp = Data<float>(q), ad = Data<float>(downA), ga = Data<float>(gradPairA);
        float* gb = Data<float>(gateBt), ub = Data<float>(upBt);
        float* dgp = Data<float>(gradGate), dup = Data<float>(gradUp), hp = Data<float>(hidden), dw = Data<float>(weightGrad);
        byte* m = keep is null ? null : Data<byte>(keep);
        long* tok = Data<long>(token), prow = Data<long>(pairRow);
        ForRowRanges(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            using var scratch = new Scratch(3 * Tile, width);
            float** coeff = stackalloc float*[Tile], gv = stackalloc float*[Tile], uv = stackalloc float*[Tile];
            float** gd = stackalloc float*[Tile], ud = stackalloc float*[Tile];
            var one = Vector256.Create(1f);
            for (long r0 = start, n; r0 < end; r0 += n)
            {
                n = TileRows(prow, experts, r0, end);
                long block = prow[r0] % experts * rank * width;
                f.Rows(r0, (int)n, scratch[0], scratch[Tile]);
                for (int c = 0; c < n; c++) coeff[c] = qp + (r0 + c) * rank;
                LowRankTile(null, coeff, (int)n, ad + block, rank, width, scratch[2 * Tile], width);
                for (int c = 0; c < n; c++)
                {
                    long r = r0 + c;
                    float* g = scratch[c], u = scratch[Tile + c], v = scratch[2 * Tile + c];
                    long o = r * width;
                    float* dr = dm + tok[r] * width, dgr = dgp + o, dur = dup + o, hr = hp + o;
                    byte* mr = m is null ? null : m + o;
                    float wr = w[r];
                    var wv = Vector256.Create(wr);
                    Vector256<float> acc = Vector256<float>.Zero;
                    long i = 0;
                    for (; i + 8 <= width; i += 8)
                    {
                        Vector256<float> z = Vector256.Load(g + i), up8 = Vector256.Load(u + i), d = Vector256.Load(dr + i);
                        Vector256<float> s = Sigmoid(z), silu = z * s, h = silu * up8;
                        acc += d * h;
                        Vector256<float> mask = mr is null ? one : Mask(mr + i, scale);
                        Vector256<float> dh = wv * d + Vector256.Load(v + i) * mask;
                        Vector256.Store(h * mask, hr + i);
                        Vector256.Store(dh * silu, dur + i);
                        Vector256.Store(dh * up8 * s * (one + z - silu), dgr + i);
                    }
                    float sum = Vector256.Sum(acc);
                    for (; i < width; i++)
                    {
                        float z = g[i], up1 = u[i], d = dr[i];
                        float s = Sigmoid(z), silu = z * s, h = silu * up1;
                        sum += d * h;
                        float mask = mr is null ? 1f : (mr[i] != 0 ? scale : 0f);
                        float dh = wr * d + v[i] * mask;
                        hr[i] = h * mask;
                        dur[i] = dh * silu;
                        dgr[i] = dh * up1 * s * (1f + z - silu);
                    }
                    dw[r] = sum;
                    gv[c] = dgr; uv[c] = dur;
                    gd[c] = ga + r * 2 * rank; ud[c] = gd[c] + rank;
                }
                RowDotsTile(gv, gd, (int)n, gb + block, rank, width);
                RowDotsTile(uv, ud, (int)n, ub + block, rank, width);
            }
        });
    }

    /// <summary>Row-sized fp32 scratch rows for one task (native memory: rows of any width, no stack limit).</summary>
    private readonly struct Scratch : IDisposable
    {
        private readonly float* memory;
        private readonly long width;

        public Scratch(int rows, long width)
        {
            this.width = width;
            memory = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(rows * width * sizeof(float)), 64);
        }

        public float* this[int row] => memory + row * width;

        public void Dispose() => System.Runtime.InteropServices.NativeMemory.AlignedFree(memory);
    }

    /// <summary>The frozen rows and rank-r corrections of <see cref="SwiGluFromFrozen"/>, checked once.</summary>
    private readonly struct FrozenRows
    {
        private readonly float* g0, u0, pa, gateBt, upBt;
        private readonly long* token, pairRow;
        private readonly int experts, rank;
        private readonly long width;

        public FrozenRows(Tensor g0, Tensor u0, Tensor token, Tensor pairRow, int experts, Tensor pairA, Tensor gateBt, Tensor upBt, int rank, long rows, long width)
        {
            Check(g0, ScalarType.Float32, g0.shape[0], width);
            Check(u0, ScalarType.Float32, g0.shape[0], width);
            Check(token, ScalarType.Int64, rows);
            Check(pairRow, ScalarType.Int64, rows);
            Check(pairA, ScalarType.Float32, rows, 2L * rank);
            Check(gateBt, ScalarType.Float32, (long)experts * rank, width);
            Check(upBt, ScalarType.Float32, (long)experts * rank, width);
            this.g0 = Data<float>(g0); this.u0 = Data<float>(u0); pa = Data<float>(pairA);
            this.gateBt = Data<float>(gateBt); this.upBt = Data<float>(upBt);
            this.token = Data<long>(token); this.pairRow = Data<long>(pairRow);
            this.experts = experts; this.rank = rank; this.width = width;
        }

        /// <summary>g and u of the <paramref name="n"/> pairs from <paramref name="r"/> (one tile: one expert) into the
        /// scratch rows from <paramref name="g"/> and <paramref name="u"/> (row q at <c>q width</c>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Rows(long r, int n, float* g, float* u)
        {
            long block = pairRow[r] % experts * rank * width;
            float** bases = stackalloc float*[Tile], coeff = stackalloc float*[Tile];
            for (int q = 0; q < n; q++)
            {
                bases[q] = g0 + token[r + q] * width;
                coeff[q] = pa + (r + q) * 2 * rank;
            }
            LowRankTile(bases, coeff, n, gateBt + block, rank, width, g, width);
            for (int q = 0; q < n; q++)
            {
                bases[q] = u0 + token[r + q] * width;
                coeff[q] += rank;
            }
            LowRankTile(bases, coeff, n, upBt + block, rank, width, u, width);
        }
    }

    /// <summary>Rows of the rank-r loops processed together: consecutive expert-sorted pairs of one expert, so each load of
    /// the expert's rank rows (from L2: E*r*I floats per matrix) feeds four pairs' FMAs. Row by row every FMA needed its
    /// own load and the loops ran at a third of the FMA peak (bench README, session 8).</summary>
    private const int Tile = 4;

    /// <summary>How many rows from <paramref name="r"/> (at most <see cref="Tile"/>, before <paramref name="end"/>) belong to
    /// the expert of row r (<c>pairRow mod experts</c>).</summary>
    private static int TileRows(long* pairRow, int experts, long r, long end)
    {
        long e = pairRow[r] % experts;
        int n = 1;
        while (n < Tile && r + n < end && pairRow[r + n] % experts == e) n++;
        return n;
    }

    /// <summary><see cref="LowRank"/> for the n &lt;= <see cref="Tile"/> rows of one tile, which share b:
    /// <c>dst[q] = baseRows[q] + sum_j coeff[q][j] b[j]</c> (baseRows null: 0), dst row q at <c>dst + q dstStride</c>. With
    /// 512-bit vectors four rows x 64 columns of accumulators stay in registers, so each load of b feeds four FMAs; rows
    /// past n repeat row 0 and are not stored. Elsewhere row by row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LowRankTile(float** baseRows, float** coeff, int n, float* b, int rank, long width, float* dst, long dstStride)
    {
        if (!Wide)
        {
            for (int q = 0; q < n; q++) LowRank(baseRows is null ? null : baseRows[q], coeff[q], b, rank, width, dst + q * dstStride);
            return;
        }
        float* a0 = coeff[0], a1 = coeff[n > 1 ? 1 : 0], a2 = coeff[n > 2 ? 2 : 0], a3 = coeff[n > 3 ? 3 : 0];
        float* z0 = null, z1 = null, z2 = null, z3 = null;
        if (baseRows is not null)
        {
            z0 = baseRows[0]; z1 = baseRows[n > 1 ? 1 : 0]; z2 = baseRows[n > 2 ? 2 : 0]; z3 = baseRows[n > 3 ? 3 : 0];
        }
        float* d0 = dst, d1 = dst + dstStride, d2 = d1 + dstStride, d3 = d2 + dstStride;
        long i = 0;
        for (; i + 64 <= width; i += 64)
        {
            Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
            if (z0 is null) c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = Vector512<float>.Zero;
            else
            {
                c00 = Vector512.Load(z0 + i); c01 = Vector512.Load(z0 + i + 16); c02 = Vector512.Load(z0 + i + 32); c03 = Vector512.Load(z0 + i + 48);
                c10 = Vector512.Load(z1 + i); c11 = Vector512.Load(z1 + i + 16); c12 = Vector512.Load(z1 + i + 32); c13 = Vector512.Load(z1 + i + 48);
                c20 = Vector512.Load(z2 + i); c21 = Vector512.Load(z2 + i + 16); c22 = Vector512.Load(z2 + i + 32); c23 = Vector512.Load(z2 + i + 48);
                c30 = Vector512.Load(z3 + i); c31 = Vector512.Load(z3 + i + 16); c32 = Vector512.Load(z3 + i + 32); c33 = Vector512.Load(z3 + i + 48);
            }
            float* bj = b + i;
            for (int j = 0; j < rank; j++, bj += width)
            {
                Vector512<float> b0 = Vector512.Load(bj), b1 = Vector512.Load(bj + 16), b2 = Vector512.Load(bj + 32), b3 = Vector512.Load(bj + 48);
                Vector512<float> s = Vector512.Create(a0[j]);
                c00 = Vector512.FusedMultiplyAdd(s, b0, c00); c01 = Vector512.FusedMultiplyAdd(s, b1, c01);
                c02 = Vector512.FusedMultiplyAdd(s, b2, c02); c03 = Vector512.FusedMultiplyAdd(s, b3, c03);
                s = Vector512.Create(a1[j]);
                c10 = Vector512.FusedMultiplyAdd(s, b0, c10); c11 = Vector512.FusedMultiplyAdd(s, b1, c11);
                c12 = Vector512.FusedMultiplyAdd(s, b2, c12); c13 = Vector512.FusedMultiplyAdd(s, b3, c13);
                s = Vector512.Create(a2[j]);
                c20 = Vector512.FusedMultiplyAdd(s, b0, c20); c21 = Vector512.FusedMultiplyAdd(s, b1, c21);
                c22 = Vector512.FusedMultiplyAdd(s, b2, c22); c23 = Vector512.FusedMultiplyAdd(s, b3, c23);
                s = Vector512.Create(a3[j]);
                c30 = Vector512.FusedMultiplyAdd(s, b0, c30); c31 = Vector512.FusedMultiplyAdd(s, b1, c31);
                c32 = Vector512.FusedMultiplyAdd(s, b2, c32); c33 = Vector512.FusedMultiplyAdd(s, b3, c33);
            }
            Vector512.Store(c00, d0 + i); Vector512.Store(c01, d0 + i + 16); Vector512.Store(c02, d0 + i + 32); Vector512.Store(c03, d0 + i + 48);
            if (n > 1) { Vector512.Store(c10, d1 + i); Vector512.Store(c11, d1 + i + 16); Vector512.Store(c12, d1 + i + 32); Vector512.Store(c13, d1 + i + 48); }
            if (n > 2) { Vector512.Store(c20, d2 + i); Vector512.Store(c21, d2 + i + 16); Vector512.Store(c22, d2 + i + 32); Vector512.Store(c23, d2 + i + 48); }
            if (n > 3) { Vector512.Store(c30, d3 + i); Vector512.Store(c31, d3 + i + 16); Vector512.Store(c32, d3 + i + 32); Vector512.Store(c33, d3 + i + 48); }
        }
        for (; i + 16 <= width; i += 16)
        {
            Vector512<float> c0, c1, c2, c3;
            if (z0 is null) c0 = c1 = c2 = c3 = Vector512<float>.Zero;
            else
            {
                c0 = Vector512.Load(z0 + i); c1 = Vector512.Load(z1 + i); c2 = Vector512.Load(z2 + i); c3 = Vector512.Load(z3 + i);
            }
            float* bj = b + i;
            for (int j = 0; j < rank; j++, bj += width)
            {
                Vector512<float> bv = Vector512.Load(bj);
                c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[j]), bv, c0);
                c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[j]), bv, c1);
                c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[j]), bv, c2);
                c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[j]), bv, c3);
            }
            Vector512.Store(c0, d0 + i);
            if (n > 1) Vector512.Store(c1, d1 + i);
            if (n > 2) Vector512.Store(c2, d2 + i);
            if (n > 3) Vector512.Store(c3, d3 + i);
        }
        for (int q = 0; q < n; q++)
            for (long t = i; t < width; t++)
            {
                float acc = baseRows is null ? 0f : baseRows[q][t];
                for (int j = 0; j < rank; j++) acc += coeff[q][j] * b[j * width + t];
                dst[q * dstStride + t] = acc;
            }
    }

    /// <summary><see cref="RowDots"/> for the n &lt;= <see cref="Tile"/> rows of one tile, which share w:
    /// <c>dst[q][j] = sum_i v[q][i] w[j width + i]</c> for j &lt; rows. With 512-bit vectors (width a multiple of 16) four
    /// rows of v against four rows of w at a time, 16 accumulators: eight loads feed sixteen FMAs; rows past n repeat row 0
    /// and are not stored. Elsewhere row by row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowDotsTile(float** v, float** dst, int n, float* w, int rows, long width)
    {
        if (!Wide || (width & 15) != 0)
        {
            for (int q = 0; q < n; q++) RowDots(v[q], w, rows, width, dst[q]);
            return;
        }
        float* v0 = v[0], v1 = v[n > 1 ? 1 : 0], v2 = v[n > 2 ? 2 : 0], v3 = v[n > 3 ? 3 : 0];
        int j = 0;
        for (; j + 4 <= rows; j += 4)
        {
            float* w0 = w + j * width, w1 = w0 + width, w2 = w1 + width, w3 = w2 + width;
            Vector512<float> c00 = Vector512<float>.Zero, c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            Vector512<float> c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
            for (long i = 0; i < width; i += 16)
            {
                Vector512<float> y0 = Vector512.Load(w0 + i), y1 = Vector512.Load(w1 + i), y2 = Vector512.Load(w2 + i), y3 = Vector512.Load(w3 + i);
                Vector512<float> x = Vector512.Load(v0 + i);
                c00 = Vector512.FusedMultiplyAdd(x, y0, c00); c01 = Vector512.FusedMultiplyAdd(x, y1, c01);
                c02 = Vector512.FusedMultiplyAdd(x, y2, c02); c03 = Vector512.FusedMultiplyAdd(x, y3, c03);
                x = Vector512.Load(v1 + i);
                c10 = Vector512.FusedMultiplyAdd(x, y0, c10); c11 = Vector512.FusedMultiplyAdd(x, y1, c11);
                c12 = Vector512.FusedMultiplyAdd(x, y2, c12); c13 = Vector512.FusedMultiplyAdd(x, y3, c13);
                x = Vector512.Load(v2 + i);
                c20 = Vector512.FusedMultiplyAdd(x, y0, c20); c21 = Vector512.FusedMultiplyAdd(x, y1, c21);
                c22 = Vector512.FusedMultiplyAdd(x, y2, c22); c23 = Vector512.FusedMultiplyAdd(x, y3, c23);
                x = Vector512.Load(v3 + i);
                c30 = Vector512.FusedMultiplyAdd(x, y0, c30); c31 = Vector512.FusedMultiplyAdd(x, y1, c31);
                c32 = Vector512.FusedMultiplyAdd(x, y2, c32); c33 = Vector512.FusedMultiplyAdd(x, y3, c33);
            }
            float* o = dst[0] + j;
            o[0] = Vector512.Sum(c00); o[1] = Vector512.Sum(c01); o[2] = Vector512.Sum(c02); o[3] = Vector512.Sum(c03);
            if (n > 1) { o = dst[1] + j; o[0] = Vector512.Sum(c10); o[1] = Vector512.Sum(c11); o[2] = Vector512.Sum(c12); o[3] = Vector512.Sum(c13); }
            if (n > 2) { o = dst[2] + j; o[0] = Vector512.Sum(c20); o[1] = Vector512.Sum(c21); o[2] = Vector512.Sum(c22); o[3] = Vector512.Sum(c23); }
            if (n > 3) { o = dst[3] + j; o[0] = Vector512.Sum(c30); o[1] = Vector512.Sum(c31); o[2] = Vector512.Sum(c32); o[3] = Vector512.Sum(c33); }
        }
        for (; j < rows; j++)
        {
            float* wj = w + j * width;
            Vector512<float> c0 = Vector512<float>.Zero, c1 = c0, c2 = c0, c3 = c0;
            for (long i = 0; i < width; i += 16)
            {
                Vector512<float> y = Vector512.Load(wj + i);
                c0 = Vector512.FusedMultiplyAdd(Vector512.Load(v0 + i), y, c0);
                c1 = Vector512.FusedMultiplyAdd(Vector512.Load(v1 + i), y, c1);
                c2 = Vector512.FusedMultiplyAdd(Vector512.Load(v2 + i), y, c2);
                c3 = Vector512.FusedMultiplyAdd(Vector512.Load(v3 + i), y, c3);
            }
            dst[0][j] = Vector512.Sum(c0);
            if (n > 1) dst[1][j] = Vector512.Sum(c1);
            if (n > 2) dst[2][j] = Vector512.Sum(c2);
            if (n > 3) dst[3][j] = Vector512.Sum(c3);
        }
    }

    /// <summary><c>dst = base + sum_j a[j] b[j]</c> over rank rows b[j] of length width (base null: 0). The r products of
    /// a column accumulate in a register, so dst is written once (the b rows, E*r*I floats, stay in cache). Four 8-wide
    /// column chunks run side by side: one accumulator would chain r dependent FMAs (latency-bound at about a quarter of
    /// the FMA throughput); four independent chains share each broadcast a[j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LowRank(float* baseRow, float* a, float* b, int rank, long width, float* dst)
    {
        long i = 0;
        if (Wide)
            for (; i + 64 <= width; i += 64)
            {
                Vector512<float> c0, c1, c2, c3;
                if (baseRow is null) c0 = c1 = c2 = c3 = Vector512<float>.Zero;
                else
                {
                    c0 = Vector512.Load(baseRow + i); c1 = Vector512.Load(baseRow + i + 16);
                    c2 = Vector512.Load(baseRow + i + 32); c3 = Vector512.Load(baseRow + i + 48);
                }
                float* bj = b + i;
                for (int j = 0; j < rank; j++, bj += width)
                {
                    Vector512<float> aj = Vector512.Create(a[j]);
                    c0 = Vector512.FusedMultiplyAdd(aj, Vector512.Load(bj), c0);
                    c1 = Vector512.FusedMultiplyAdd(aj, Vector512.Load(bj + 16), c1);
                    c2 = Vector512.FusedMultiplyAdd(aj, Vector512.Load(bj + 32), c2);
                    c3 = Vector512.FusedMultiplyAdd(aj, Vector512.Load(bj + 48), c3);
                }
                Vector512.Store(c0, dst + i); Vector512.Store(c1, dst + i + 16);
                Vector512.Store(c2, dst + i + 32); Vector512.Store(c3, dst + i + 48);
            }
        Vector256<float>* av = stackalloc Vector256<float>[rank];
        for (int j = 0; j < rank; j++) av[j] = Vector256.Create(a[j]);
        for (; i + 32 <= width; i += 32)
        {
            Vector256<float> c0, c1, c2, c3;
            if (baseRow is null) c0 = c1 = c2 = c3 = Vector256<float>.Zero;
            else
            {
                c0 = Vector256.Load(baseRow + i); c1 = Vector256.Load(baseRow + i + 8);
                c2 = Vector256.Load(baseRow + i + 16); c3 = Vector256.Load(baseRow + i + 24);
            }
            float* bj = b + i;
            for (int j = 0; j < rank; j++, bj += width)
            {
                Vector256<float> aj = av[j];
                c0 = Vector256.FusedMultiplyAdd(aj, Vector256.Load(bj), c0);
                c1 = Vector256.FusedMultiplyAdd(aj, Vector256.Load(bj + 8), c1);
                c2 = Vector256.FusedMultiplyAdd(aj, Vector256.Load(bj + 16), c2);
                c3 = Vector256.FusedMultiplyAdd(aj, Vector256.Load(bj + 24), c3);
            }
            Vector256.Store(c0, dst + i); Vector256.Store(c1, dst + i + 8);
            Vector256.Store(c2, dst + i + 16); Vector256.Store(c3, dst + i + 24);
        }
        for (; i + 8 <= width; i += 8)
        {
            Vector256<float> acc = baseRow is null ? Vector256<float>.Zero : Vector256.Load(baseRow + i);
            float* bj = b + i;
            for (int j = 0; j < rank; j++, bj += width) acc = Vector256.FusedMultiplyAdd(av[j], Vector256.Load(bj), acc);
            Vector256.Store(acc, dst + i);
        }
        for (; i < width; i++)
        {
            float acc = baseRow is null ? 0f : baseRow[i];
            for (int j = 0; j < rank; j++) acc += a[j] * b[j * width + i];
            dst[i] = acc;
        }
    }

    /// <summary><c>dst[j] = sum_i v[i] w[j width + i]</c> for j &lt; rows: the dot products of one row with
    /// <paramref name="rows"/> rows of w (the transpose of <see cref="LowRank"/>). Eight rows side by side, so each load of v
    /// feeds eight independent FMA chains; the remaining rows one at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowDots(float* v, float* w, int rows, long width, float* dst)
    {
        long vectorEnd = width & ~7L;
        int j = 0;
        for (; j + 8 <= rows; j += 8)
        {
            float* w0 = w + j * width, w1 = w0 + width, w2 = w1 + width, w3 = w2 + width;
            float* w4 = w3 + width, w5 = w4 + width, w6 = w5 + width, w7 = w6 + width;
            Vector256<float> c0 = Vector256<float>.Zero, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
            for (long i = 0; i < vectorEnd; i += 8)
            {
                Vector256<float> x = Vector256.Load(v + i);
                c0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w0 + i), c0);
                c1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w1 + i), c1);
                c2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w2 + i), c2);
                c3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w3 + i), c3);
                c4 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w4 + i), c4);
                c5 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w5 + i), c5);
                c6 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w6 + i), c6);
                c7 = Vector256.FusedMultiplyAdd(x, Vector256.Load(w7 + i), c7);
            }
            float s0 = Vector256.Sum(c0), s1 = Vector256.Sum(c1), s2 = Vector256.Sum(c2), s3 = Vector256.Sum(c3);
            float s4 = Vector256.Sum(c4), s5 = Vector256.Sum(c5), s6 = Vector256.Sum(c6), s7 = Vector256.Sum(c7);
            for (long i = vectorEnd; i < width; i++)
            {
                float x = v[i];
                s0 += x * w0[i]; s1 += x * w1[i]; s2 += x * w2[i]; s3 += x * w3[i];
                s4 += x * w4[i]; s5 += x * w5[i]; s6 += x * w6[i]; s7 += x * w7[i];
            }
            dst[j] = s0; dst[j + 1] = s1; dst[j + 2] = s2; dst[j + 3] = s3;
            dst[j + 4] = s4; dst[j + 5] = s5; dst[j + 6] = s6; dst[j + 7] = s7;
        }
        for (; j < rows; j++)
        {
            float* wj = w + j * width;
            Vector256<float> c = Vector256<float>.Zero;
            for (long i = 0; i < vectorEnd; i += 8) c = Vector256.FusedMultiplyAdd(Vector256.Load(v + i), Vector256.Load(wj + i), c);
            float sum = Vector256.Sum(c);
            for (long i = vectorEnd; i < width; i++) sum += v[i] * wj[i];
            dst[j] = sum;
        }
    }

    /// <summary><c>dst[i] = x[i] keep[i] scale</c> over one row (bool keep bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaskRow(float* x, byte* keep, float scale, long width, float* dst)
    {
        long i = 0;
        for (; i + 8 <= width; i += 8) Vector256.Store(Vector256.Load(x + i) * Mask(keep + i, scale), dst + i);
        for (; i < width; i++) dst[i] = keep[i] != 0 ? x[i] * scale : 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> z) => Vector256<float>.One / (Vector256<float>.One + Exp(-z));

    /// <summary>e^x in fp32, within 2 ulp on [-87.3, 88.3] (the fp32 range without subnormals; inputs outside are clamped
    /// to it, NaN stays NaN). <c>Vector256.Exp</c> widens to double and cost about six times this on the 2-core test
    /// machine, most of a SwiGLU pass. Range reduction x = n ln2 + f, |f| &lt;= ln2/2, with ln2 split in two so f is exact
    /// to fp32; e^f by the degree-7 minimax polynomial of Cephes' expf; 2^n built in the exponent bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.33654f)), Vector256.Create(88.37626f));
        Vector256<float> n = Vector256.Floor(Vector256.FusedMultiplyAdd(x, Vector256.Create(1.44269504088896341f), Vector256.Create(0.5f)));
        Vector256<float> f = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        f = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), f);
        Vector256<float> p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, f, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, f * f, f + Vector256<float>.One);
        Vector256<int> twoToN = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23);
        return p * twoToN.AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    /// <summary>Eight bool mask bytes as floats: <paramref name="scale"/> where kept, 0 where dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Mask(byte* bytes, float scale)
    {
        Vector128<ushort> wide = Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(bytes)).AsByte());
        Vector256<int> ints = Vector256.Create(Vector128.WidenLower(wide), Vector128.WidenUpper(wide)).AsInt32();
        return Vector256.Min(Vector256.ConvertToSingle(ints), Vector256<float>.One) * Vector256.Create(scale);
    }

    private static void ForRows(long rows, Action<long> body)
        => ForRowRanges(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) => { for (long r = start; r < end; r++) body(r); });

    /// <summary>Splits [0, rows) into tasks of <c>RowsPerTask</c> rows over <see cref="Workers"/> threads: torch's own
    /// OpenMP team where <see cref="OpenMpTeam"/> found it, else the .NET thread pool.</summary>
    internal static void ForRowRanges(long rows, Action<long, long> body) => ForRowRanges(rows, RowsPerTask, body);

    /// <summary><see cref="ForRowRanges(long, Action{long, long})"/> with tasks of <paramref name="rowsPerTask"/> rows.</summary>
    internal static void ForRowRanges(long rows, long rowsPerTask, Action<long, long> body)
    {
        int threads = Workers;
        long tasks = (rows + rowsPerTask - 1) / rowsPerTask;
        if (threads == 1 || tasks == 1)
        {
            body(0, rows);
            return;
        }
        if (OpenMpTeam.TryRun(rows, rowsPerTask, threads, body)) return;
        Parallel.For(0L, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads },
            task => body(task * rowsPerTask, Math.Min(rows, (task + 1) * rowsPerTask)));
    }

    internal static T* Data<T>(Tensor t) where T : unmanaged => (T*)THSTensor_data(t.Handle);

    private static void Check(Tensor t, ScalarType dtype, params long[] shape)
    {
        if (t.device_type != DeviceType.CPU || t.dtype != dtype || !t.is_contiguous() || t.shape.Length != shape.Length)
            throw new ArgumentException($"ExpertKernels needs a contiguous CPU {dtype} tensor of shape [{string.Join(", ", shape)}], got {t.device_type} {t.dtype} [{string.Join(", ", t.shape)}]{(t.is_contiguous() ? "" : " (not contiguous)")}");
        for (int i = 0; i < shape.Length; i++)
            if (t.shape[i] != shape[i])
                throw new ArgumentException($"ExpertKernels needs shape [{string.Join(", ", shape)}], got [{string.Join(", ", t.shape)}]");
    }
}
