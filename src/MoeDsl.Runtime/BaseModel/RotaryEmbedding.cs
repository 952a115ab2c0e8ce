using System;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Rotary position embedding in Hugging Face's rotate-half layout, tables computed in fp32.
/// Holds no state-dict entries (HF's <c>inv_freq</c> is a non-persistent buffer).</summary>
public sealed class RotaryEmbedding
{
    private readonly int headDim;
    private readonly double theta;

    /// <summary>Rotary tables for heads of width <paramref name="headDim"/> (even) with base frequency <paramref name="theta"/>.</summary>
    public RotaryEmbedding(int headDim, double theta)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"head dimension {headDim} must be even", nameof(headDim));
        this.headDim = headDim;
        this.theta = theta;
    }

    /// <summary>cos and sin tables [L, headDim] for positions start..start+length-1, fp32, on <paramref name="device"/>.</summary>
    public (Tensor Cos, Tensor Sin) Tables(long start, long length, Device device)
    {
        using var scope = NewDisposeScope();
        Tensor invFreq = 1.0 / pow(theta, arange(0, headDim, 2, dtype: ScalarType.Int64, device: device).to(ScalarType.Float32) / headDim);
        Tensor positions = arange(start, start + length, dtype: ScalarType.Int64, device: device).to(ScalarType.Float32);
        Tensor freqs = outer(positions, invFreq);
        Tensor emb = cat(new[] { freqs, freqs }, -1);
        return (emb.cos().MoveToOuterDisposeScope(), emb.sin().MoveToOuterDisposeScope());
    }

    /// <summary>Applies the rotation to q or k [B, H, L, D] (computed in fp32, cast back).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        Tensor xf = x.to(ScalarType.Float32);
        long half = x.shape[^1] / 2;
        Tensor x1 = xf.narrow(-1, 0, half);
        Tensor x2 = xf.narrow(-1, half, half);
        Tensor rotated = cat(new[] { -x2, x1 }, -1);
        return (xf * cos + rotated * sin).to(x.dtype).MoveToOuterDisposeScope();
    }
}
