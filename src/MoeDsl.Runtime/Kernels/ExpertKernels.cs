using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>Fused element-wise CPU kernels of the MixLoRA FFN (issue #5): each replaces a chain of TorchSharp ops
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

    /// <summary>Worker threads of the kernels (default: torch.get_num_threads()).</summary>
    public static int Workers { get; set; } = Math.Max(1, Environment.GetEnvironmentVariable("MOEDSL_KERNEL_THREADS") is string v && int.TryParse(v, out int n) ? n : torch.get_num_threads());

    /// <summary>Whether the kernels can run on these tensors: CPU, fp32 (the caller checks its masks and indices).</summary>
    public static bool Supports(Tensor t) => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32;

    /// <summary>h = silu(gate) * up, written into <paramref name="gate"/>. Both [P, I].</summary>
    public static void SwiGlu(Tensor gate, Tensor up)
    {
        long rows = gate.shape[0], width = gate.shape[1];
        Check(gate, ScalarType.Float32, rows, width);
        Check(up, ScalarType.Float32, rows, width);
        float* g = Data<float>(gate), u = Data<float>(up);
        ForRows(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (long r) =>
        {
            float* gr = g + r * width, ur = u + r * width;
            long i = 0;
            for (; i + 8 <= width; i += 8)
            {
                Vector256<float> z = Vector256.Load(gr + i);
                Vector256.Store(z * Sigmoid(z) * Vector256.Load(ur + i), gr + i);
            }
            for (; i < width; i++) gr[i] = gr[i] * Sigmoid(gr[i]) * ur[i];
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

    /// <summary><c>output = input * keep * scale</c> with a bool keep-mask; all [P, I].</summary>
    public static void MaskScale(Tensor input, Tensor keep, float scale, Tensor output)
    {
        long rows = input.shape[0], width = input.shape[1];
        Check(input, ScalarType.Float32, rows, width);
        Check(keep, ScalarType.Bool, rows, width);
        Check(output, ScalarType.Float32, rows, width);
        float* x = Data<float>(input), y = Data<float>(output);
        byte* m = Data<byte>(keep);
        ForRows(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (long r) =>
        {
            long o = r * width, i = 0;
            for (; i + 8 <= width; i += 8) Vector256.Store(Vector256.Load(x + o + i) * Mask(m + o + i, scale), y + o + i);
            for (; i < width; i++) y[o + i] = m[o + i] != 0 ? x[o + i] * scale : 0f;
        });
    }

    /// <summary>The SwiGLU backward of the MixLoRA FFN for every pair p, one pass. Inputs: the recomputed pre-activations
    /// <paramref name="gate"/>, <paramref name="up"/> [P, I]; <paramref name="mixedGrad"/> [T, I], the gradient of
    /// <c>sum_p w_p h_p</c>, read at row <c>token[p]</c>; the pair weights [P]; <paramref name="viaLora"/> [P, I], the
    /// gradient reaching h~ through the down LoRA; the optional bool keep-mask of h~ and its scale. Per element:
    /// <code>
    /// s = sigmoid(g), silu = g s, h = silu u, h~ = h m c
    /// dh = w dMixed + viaLora m c;  d up = dh silu;  d gate = dh u s (1 + g - silu)
    /// </code>
    /// Writes d gate into <paramref name="gate"/>, d up into <paramref name="up"/>, h~ into <paramref name="viaLora"/>,
    /// and <c>dMixed[token[p]] . h_p</c> (the routing weight's gradient through W_d) into <paramref name="weightGrad"/> [P].</summary>
    public static void SwiGluBackward(Tensor gate, Tensor up, Tensor mixedGrad, Tensor token, Tensor pairWeight, Tensor viaLora,
        Tensor? keep, float scale, Tensor weightGrad)
    {
        long rows = gate.shape[0], width = gate.shape[1];
        Check(gate, ScalarType.Float32, rows, width);
        Check(up, ScalarType.Float32, rows, width);
        Check(mixedGrad, ScalarType.Float32, mixedGrad.shape[0], width);
        Check(token, ScalarType.Int64, rows);
        Check(pairWeight, ScalarType.Float32, rows);
        Check(viaLora, ScalarType.Float32, rows, width);
        if (keep is not null) Check(keep, ScalarType.Bool, rows, width);
        Check(weightGrad, ScalarType.Float32, rows);
        float* g = Data<float>(gate), u = Data<float>(up), dm = Data<float>(mixedGrad), w = Data<float>(pairWeight);
        float* vl = Data<float>(viaLora), dw = Data<float>(weightGrad);
        long* tok = Data<long>(token);
        byte* m = keep is null ? null : Data<byte>(keep);
        var one = Vector256.Create(1f);
        ForRows(rows, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (long r) =>
        {
            long o = r * width;
            float* gr = g + o, ur = u + o, vr = vl + o, dr = dm + tok[r] * width;
            byte* mr = m is null ? null : m + o;
            float wr = w[r];
            var wv = Vector256.Create(wr);
            Vector256<float> acc = Vector256<float>.Zero;
            long i = 0;
            for (; i + 8 <= width; i += 8)
            {
                Vector256<float> z = Vector256.Load(gr + i), up8 = Vector256.Load(ur + i), d = Vector256.Load(dr + i);
                Vector256<float> s = Sigmoid(z), silu = z * s, h = silu * up8;
                acc += d * h;
                Vector256<float> mask = mr is null ? one : Mask(mr + i, scale);
                Vector256<float> dh = wv * d + Vector256.Load(vr + i) * mask;
                Vector256.Store(h * mask, vr + i);
                Vector256.Store(dh * silu, ur + i);
                Vector256.Store(dh * up8 * s * (one + z - silu), gr + i);
            }
            float sum = Vector256.Sum(acc);
            for (; i < width; i++)
            {
                float z = gr[i], up1 = ur[i], d = dr[i];
                float s = Sigmoid(z), silu = z * s, h = silu * up1;
                sum += d * h;
                float mask = mr is null ? 1f : (mr[i] != 0 ? scale : 0f);
                float dh = wr * d + vr[i] * mask;
                vr[i] = h * mask;
                ur[i] = dh * silu;
                gr[i] = dh * up1 * s * (1f + z - silu);
            }
            dw[r] = sum;
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> z) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-z));

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
    {
        int workers = Workers;
        long tasks = (rows + RowsPerTask - 1) / RowsPerTask;
        if (workers == 1 || tasks == 1)
        {
            for (long r = 0; r < rows; r++) body(r);
            return;
        }
        Parallel.For(0L, tasks, new ParallelOptions { MaxDegreeOfParallelism = workers }, task =>
        {
            long end = Math.Min(rows, (task + 1) * RowsPerTask);
            for (long r = task * RowsPerTask; r < end; r++) body(r);
        });
    }

    private static T* Data<T>(Tensor t) where T : unmanaged => (T*)THSTensor_data(t.Handle);

    private static void Check(Tensor t, ScalarType dtype, params long[] shape)
    {
        if (t.device_type != DeviceType.CPU || t.dtype != dtype || !t.is_contiguous() || t.shape.Length != shape.Length)
            throw new ArgumentException($"ExpertKernels needs a contiguous CPU {dtype} tensor of shape [{string.Join(", ", shape)}], got {t.device_type} {t.dtype} [{string.Join(", ", t.shape)}]{(t.is_contiguous() ? "" : " (not contiguous)")}");
        for (int i = 0; i < shape.Length; i++)
            if (t.shape[i] != shape[i])
                throw new ArgumentException($"ExpertKernels needs shape [{string.Join(", ", shape)}], got [{string.Join(", ", t.shape)}]");
    }
}
