using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>The frozen projection <c>y = x W^T + b</c> for a handful of rows of <c>x</c> (decoding: one token per
/// forward; a short prompt), fp32 or bf16 weights on the CPU, where nothing needs its gradient. Such a product is a pass
/// over W and little else: libtorch hands it to MKL's sgemv, which on this project's CPUs runs on one thread (measured on
/// the 2-core VM, 2026-12-02: 20 GB/s from memory on a [32000, 768] head, against 57 GB/s for two threads streaming W
/// here), and a prompt of a few tokens goes to sgemm, which first packs all of W. Here the weight rows are split over the
/// kernels' threads (torch's OpenMP team, <see cref="ExpertKernels.ForRowRanges(long, long, Action{long, long})"/>), each
/// row read once from memory and dotted with every x row (held in L1/L2) by four independent 8-wide FMA chains. bf16
/// weights are widened to fp32 in registers (exact), products accumulate in fp32 and the bf16 output is rounded to
/// nearest-even, as libtorch's bf16 linear does; the summation order differs from MKL's, so results agree to fp32
/// rounding, not bit for bit. <see cref="Linear"/> is the one entry point: every frozen projection and the head go
/// through it; more rows of an fp32 projection on an AVX-512 CPU go to <see cref="WideGemm"/>, and anything else
/// (another device or dtype, a CPU without AVX2+FMA) is <c>nn.functional.linear</c>.</summary>
public static unsafe class FrozenMatVec
{
    /// <summary>Rows of x up to which the kernel runs (a prompt of up to this many tokens, or a batch of decoding rows);
    /// beyond it the product has enough columns for sgemm's packing to pay.</summary>
    public const int MaxRows = 8;

    private const long WeightRowsPerTask = 64;

    // Longest weight row widened into stack scratch (128 KiB of fp32); longer rows widen inside each dot.
    private const long MaxWidenedRow = 32768;

    /// <summary><c>x W^T + b</c>: the kernel when <see cref="Covers"/> says so; more rows of a frozen fp32 projection on an
    /// AVX-512 CPU through <see cref="WideGemm"/> (<see cref="WideLinear"/>, an autograd node when x needs a gradient);
    /// else <c>nn.functional.linear</c>.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (Covers(x, weight, bias)) return Apply(x, weight, bias);
        bool frozen = !weight.requires_grad && (bias is null || (!bias.requires_grad && bias.dtype == ScalarType.Float32 && bias.device_type == DeviceType.CPU));
        return frozen && WideGemm.Covers(x, weight) ? WideLinear.Apply(x, weight, bias) : nn.functional.linear(x, weight, bias);
    }

    /// <summary>Whether the kernel computes <c>x W^T + b</c>: CPU with AVX2+FMA, W a contiguous [out, in] fp32 or bf16
    /// tensor without gradient, x of W's dtype with at most <see cref="MaxRows"/> rows of <c>in</c> features, and no
    /// gradient to record through x.</summary>
    public static bool Covers(Tensor x, Tensor weight, Tensor? bias)
    {
        if (!ExpertKernels.Accelerated || weight.device_type != DeviceType.CPU || x.device_type != DeviceType.CPU) return false;
        if (weight.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || x.dtype != weight.dtype) return false;
        if (weight.dim() != 2 || !weight.is_contiguous() || weight.requires_grad || x.dim() == 0) return false;
        long inFeatures = weight.shape[1];
        if (inFeatures == 0 || x.shape[^1] != inFeatures || x.numel() == 0 || x.numel() / inFeatures > MaxRows) return false;
        if (bias is not null && (bias.dtype != weight.dtype || bias.device_type != DeviceType.CPU || bias.requires_grad || bias.numel() != weight.shape[0])) return false;
        return !(is_grad_enabled() && x.requires_grad);
    }

    private static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        long n = weight.shape[0], k = weight.shape[1], m = x.numel() / k;
        long[] shape = (long[])x.shape.Clone();
        shape[^1] = n;
        Tensor y = empty(shape, dtype: x.dtype);
        using Tensor xf = x.to(ScalarType.Float32).contiguous();
        using Tensor? bf = bias?.to(ScalarType.Float32).contiguous();
        float* xp = ExpertKernels.Data<float>(xf);
        float* bp = bf is null ? null : ExpertKernels.Data<float>(bf);
        bool bf16 = weight.dtype == ScalarType.BFloat16;
        void* wp = bf16 ? ExpertKernels.Data<ushort>(weight) : ExpertKernels.Data<float>(weight);
        void* yp = bf16 ? ExpertKernels.Data<ushort>(y) : ExpertKernels.Data<float>(y);
        ExpertKernels.ForRowRanges(n, WeightRowsPerTask, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            // Several rows of x against bf16 weights: widen each weight row once into fp32 scratch (L1) and dot that.
            bool widenOnce = bf16 && m > 1 && k <= MaxWidenedRow;
            float* widened = stackalloc float[widenOnce ? (int)k : 0];
            for (long o = start; o < end; o++)
            {
                float b = bp is null ? 0f : bp[o];
                if (widenOnce) Widen((ushort*)wp + o * k, widened, k);
                for (long r = 0; r < m; r++)
                {
                    float sum = b + (!bf16 ? Dot((float*)wp + o * k, xp + r * k, k)
                        : widenOnce ? Dot(widened, xp + r * k, k) : DotBf16((ushort*)wp + o * k, xp + r * k, k));
                    if (bf16) ((ushort*)yp)[r * n + o] = ToBf16(sum);
                    else ((float*)yp)[r * n + o] = sum;
                }
            }
        });
        return y;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* w, float* x, long k)
    {
        Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        long i = 0;
        for (; i + 32 <= k; i += 32)
        {
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 8), Vector256.Load(x + i + 8), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 16), Vector256.Load(x + i + 16), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 24), Vector256.Load(x + i + 24), a3);
        }
        for (; i + 8 <= k; i += 8) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), a0);
        float sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < k; i++) sum += w[i] * x[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotBf16(ushort* w, float* x, long k)
    {
        Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        long i = 0;
        for (; i + 32 <= k; i += 32)
        {
            var (w0, w1) = Vector256.Widen(Vector256.Load(w + i));
            var (w2, w3) = Vector256.Widen(Vector256.Load(w + i + 16));
            a0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w0, 16).AsSingle(), Vector256.Load(x + i), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w1, 16).AsSingle(), Vector256.Load(x + i + 8), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w2, 16).AsSingle(), Vector256.Load(x + i + 16), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w3, 16).AsSingle(), Vector256.Load(x + i + 24), a3);
        }
        float sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < k; i++) sum += BitConverter.UInt32BitsToSingle((uint)w[i] << 16) * x[i];
        return sum;
    }

    /// <summary>bf16 to fp32 (exact: the bf16 bits are the fp32's upper half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Widen(ushort* w, float* dst, long k)
    {
        long i = 0;
        for (; i + 16 <= k; i += 16)
        {
            var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
            Vector256.Store(Vector256.ShiftLeft(lo, 16).AsSingle(), dst + i);
            Vector256.Store(Vector256.ShiftLeft(hi, 16).AsSingle(), dst + i + 8);
        }
        for (; i < k; i++) dst[i] = BitConverter.UInt32BitsToSingle((uint)w[i] << 16);
    }

    /// <summary>fp32 to bf16, rounded to nearest-even (NaN stays a quiet NaN).</summary>
    private static ushort ToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
