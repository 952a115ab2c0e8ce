using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>The two layout changes between the experts' B matrices as a projection stores them (<c>lora_B</c> [E, out, r]
/// of <c>StackedLoraExperts</c>: expert e's <c>lora_B.weight</c> is block e) and the layouts the fused FFN's kernels read
/// (<c>[E*r, I]</c> rows per rank, <c>[d, E*r]</c> for the down product), forward and, for the gradients, back. One
/// parallel pass each instead of a strided copy per expert (what <c>cat</c> of transposed views did). fp32 CPU contiguous
/// tensors through <see cref="ExpertKernels"/>'s memory access; TorchSharp ops elsewhere.</summary>
public static unsafe class BlockLayouts
{
    private const long MaxGatheredColumns = 64;

    /// <summary>[E, R, C] -> [E, C, R]: each block transposed.</summary>
    public static Tensor TransposeBlocks(Tensor source)
    {
        if (source.dim() != 3) throw new ArgumentException($"BlockLayouts.TransposeBlocks needs [E, R, C], got [{string.Join(", ", source.shape)}]");
        long e = source.shape[0], rows = source.shape[1], columns = source.shape[2];
        // Blocks with long rows (the gradients' [E, r, I] back to [E, I, r]) gather too little per destination row: libtorch's
        // transposing copy there (46 us for [8, 16, 1408] at 2 threads against 260 us gathered; 53 us gathered against 59 us
        // for [8, 1408, 16]).
        if (!Fast(source) || columns > MaxGatheredColumns) return source.transpose(1, 2).contiguous();
        Tensor destination = empty(new[] { e, columns, rows }, dtype: source.dtype, device: source.device);
        float* src = ExpertKernels.Data<float>(source), dst = ExpertKernels.Data<float>(destination);
        // Destination row (block, c) gathers column c of the block's rows, eight at a time (one AVX2 gather).
        Vector256<int> stride = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * (int)columns;
        bool gather = Avx2.IsSupported && rows >= 8 && 8 * columns < int.MaxValue;
        ExpertKernels.ForRowRanges(e * columns, 16, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            for (long task = start; task < end; task++)
            {
                long block = task / columns, c = task % columns;
                float* s = src + block * rows * columns + c, d = dst + task * rows;
                long r = 0;
                if (gather)
                    for (; r + 8 <= rows; r += 8) Vector256.Store(Avx2.GatherVector256(s + r * columns, stride, 4), d + r);
                for (; r < rows; r++) d[r] = s[r * columns];
            }
        });
        GC.KeepAlive(source);
        return destination;
    }

    /// <summary>[A, B, C] -> [B, A, C]: the two leading dimensions swapped, rows of C copied whole.</summary>
    public static Tensor SwapLeading(Tensor source)
    {
        if (source.dim() != 3) throw new ArgumentException($"BlockLayouts.SwapLeading needs [A, B, C], got [{string.Join(", ", source.shape)}]");
        long a = source.shape[0], b = source.shape[1], c = source.shape[2];
        if (!Fast(source)) return source.transpose(0, 1).contiguous();
        Tensor destination = empty(new[] { b, a, c }, dtype: source.dtype, device: source.device);
        float* src = ExpertKernels.Data<float>(source), dst = ExpertKernels.Data<float>(destination);
        ExpertKernels.ForRowRanges(b, 64, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            for (long j = start; j < end; j++)
                for (long i = 0; i < a; i++)
                    Buffer.MemoryCopy(src + (i * b + j) * c, dst + (j * a + i) * c, c * sizeof(float), c * sizeof(float));
        });
        GC.KeepAlive(source);
        return destination;
    }

    private static bool Fast(Tensor t) => ExpertKernels.Supports(t) && t.is_contiguous();
}
