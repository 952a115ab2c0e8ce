using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MoeDsl.Runtime.Kernels;

/// <summary>The constants of one AdamW update of one parameter tensor (decoupled weight decay, bias-corrected moments),
/// in the order torch.optim.AdamW and TorchSharp's AdamW apply them.</summary>
/// <param name="Decay">1 - lr * weight_decay.</param>
/// <param name="Beta1">beta1.</param>
/// <param name="Beta2">beta2.</param>
/// <param name="OneMinusBeta1">1 - beta1, computed in double (1 - 0.999f in fp32 is off by 1.3e-5 relative).</param>
/// <param name="OneMinusBeta2">1 - beta2, computed in double.</param>
/// <param name="SqrtBiasCorrection2">sqrt(1 - beta2^step).</param>
/// <param name="Eps">eps.</param>
/// <param name="StepSize">lr / (1 - beta1^step).</param>
internal readonly record struct AdamWConstants(float Decay, float Beta1, float Beta2, float OneMinusBeta1, float OneMinusBeta2, float SqrtBiasCorrection2, float Eps, float StepSize);

/// <summary>One parameter's AdamW update: its tensor, gradient and moments (fp32, contiguous, N elements each) and constants.</summary>
internal readonly record struct AdamWTensor(IntPtr P, IntPtr G, IntPtr M, IntPtr V, long N, AdamWConstants Constants);

/// <summary>One memory pass of AdamW over an fp32 parameter, its gradient and its two moments: the eight
/// TorchSharp ops per tensor of the reference update (mul_, mul_/add_, mul_/addcmul_, sqrt, div, add_, addcdiv_) each
/// read and write whole tensors and allocate two temporaries; this reads p, g, m, v once and writes p, m, v once.</summary>
internal static unsafe class AdamWKernel
{
    private const long ChunkElements = 16 * 1024;

    /// <summary>Updates every tensor's p, m, v in place (N elements each) in one parallel pass:
    /// <code>
    /// p = p (1 - lr wd);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    /// p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    /// </code>
    /// The tensors' elements go in chunks of 16K, all chunks of all tensors shared by the kernels' threads: a MixLoRA
    /// adapter is a few hundred tensors of 8-23K elements, and updated one by one each was one or two chunks on one thread.</summary>
    public static void StepAll(IReadOnlyList<AdamWTensor> tensors)
    {
        var chunkTensor = new List<int>();
        var chunkStart = new List<long>();
        for (int i = 0; i < tensors.Count; i++)
            for (long start = 0; start < tensors[i].N; start += ChunkElements)
            {
                chunkTensor.Add(i);
                chunkStart.Add(start);
            }
        ExpertKernels.ForRowRanges(chunkTensor.Count, 1, (first, last) =>
        {
            for (long chunk = first; chunk < last; chunk++)
            {
                AdamWTensor t = tensors[chunkTensor[(int)chunk]];
                long start = chunkStart[(int)chunk];
                Range((float*)t.P, (float*)t.G, (float*)t.M, (float*)t.V, start, Math.Min(t.N, start + ChunkElements), t.Constants);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Range(float* p, float* g, float* m, float* v, long start, long end, AdamWConstants c)
    {
        var decay = Vector256.Create(c.Decay);
        var b1 = Vector256.Create(c.Beta1);
        var b2 = Vector256.Create(c.Beta2);
        var oneMinusB1 = Vector256.Create(c.OneMinusBeta1);
        var oneMinusB2 = Vector256.Create(c.OneMinusBeta2);
        var correction = Vector256.Create(c.SqrtBiasCorrection2);
        var eps = Vector256.Create(c.Eps);
        var stepSize = Vector256.Create(c.StepSize);
        long i = start;
        for (; i + 8 <= end; i += 8)
        {
            Vector256<float> gi = Vector256.Load(g + i);
            Vector256<float> mi = Vector256.Load(m + i) * b1 + gi * oneMinusB1;
            Vector256<float> vi = Vector256.Load(v + i) * b2 + gi * gi * oneMinusB2;
            Vector256<float> denom = Vector256.Sqrt(vi) / correction + eps;
            Vector256.Store(Vector256.Load(p + i) * decay - stepSize * (mi / denom), p + i);
            Vector256.Store(mi, m + i);
            Vector256.Store(vi, v + i);
        }
        for (; i < end; i++)
        {
            float gi = g[i];
            float mi = m[i] * c.Beta1 + gi * c.OneMinusBeta1;
            float vi = v[i] * c.Beta2 + gi * gi * c.OneMinusBeta2;
            float denom = MathF.Sqrt(vi) / c.SqrtBiasCorrection2 + c.Eps;
            p[i] = p[i] * c.Decay - c.StepSize * (mi / denom);
            m[i] = mi;
            v[i] = vi;
        }
    }
}
