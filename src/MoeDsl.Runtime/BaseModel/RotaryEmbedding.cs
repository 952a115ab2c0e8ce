using System;
using System.Globalization;
using MoeDsl.Runtime.IO;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Rotary scaling of a config.json (<c>rope_scaling</c> or transformers 5.x <c>rope_parameters</c>):
/// <c>linear</c> divides every inverse frequency by <see cref="Factor"/>; <c>llama3</c> (Llama 3.1+) divides the low
/// frequencies (wavelength above original / low_freq_factor) by the factor, keeps the high ones (wavelength below
/// original / high_freq_factor) and interpolates smoothly between, as transformers' <c>_compute_llama3_parameters</c>.
/// Neither changes the attention scale.</summary>
/// <param name="Type">"linear" or "llama3".</param>
/// <param name="Factor">The scaling factor.</param>
/// <param name="LowFreqFactor">llama3 only.</param>
/// <param name="HighFreqFactor">llama3 only.</param>
/// <param name="OriginalMaxPositionEmbeddings">llama3 only: the pre-training context length.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings)
{
    /// <summary>Throws <see cref="ModelFormatException"/> naming the field when a value cannot be used.</summary>
    public void Validate(string fileName)
    {
        if (!(Factor > 0) || double.IsInfinity(Factor))
            throw new ModelFormatException(fileName, "rope_scaling", $"'factor' must be a positive number, got {Factor.ToString(CultureInfo.InvariantCulture)}");
        if (Type != "llama3") return;
        if (!(LowFreqFactor > 0) || !(HighFreqFactor > LowFreqFactor) || double.IsInfinity(HighFreqFactor))
            throw new ModelFormatException(fileName, "rope_scaling", $"llama3 needs 0 < low_freq_factor < high_freq_factor, got {LowFreqFactor.ToString(CultureInfo.InvariantCulture)} and {HighFreqFactor.ToString(CultureInfo.InvariantCulture)}");
        if (OriginalMaxPositionEmbeddings <= 0)
            throw new ModelFormatException(fileName, "rope_scaling", $"'original_max_position_embeddings' must be a positive integer, got {OriginalMaxPositionEmbeddings}");
    }

    /// <summary>The scaled inverse frequency of one unscaled <paramref name="invFreq"/>.</summary>
    public double Scale(double invFreq)
    {
        if (Type == "linear") return invFreq / Factor;
        double lowFreqWavelen = OriginalMaxPositionEmbeddings / LowFreqFactor, highFreqWavelen = OriginalMaxPositionEmbeddings / HighFreqFactor;
        double wavelen = 2 * Math.PI / invFreq;
        if (wavelen > lowFreqWavelen) return invFreq / Factor;
        if (wavelen < highFreqWavelen) return invFreq;
        double smooth = (OriginalMaxPositionEmbeddings / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - smooth) * invFreq / Factor + smooth * invFreq;
    }

    /// <summary>The config.json object.</summary>
    public System.Text.Json.Nodes.JsonObject ToJson() => Type == "linear"
        ? new() { ["rope_type"] = Type, ["factor"] = Factor }
        : new()
        {
            ["rope_type"] = Type, ["factor"] = Factor, ["low_freq_factor"] = LowFreqFactor, ["high_freq_factor"] = HighFreqFactor,
            ["original_max_position_embeddings"] = OriginalMaxPositionEmbeddings,
        };
}

/// <summary>Rotary position embedding in Hugging Face's rotate-half layout, tables computed in fp32.
/// Holds no state-dict entries (HF's <c>inv_freq</c> is a non-persistent buffer).</summary>
public sealed class RotaryEmbedding
{
    private readonly int headDim;
    private readonly float[] invFreq;

    /// <summary>Rotary tables for heads of width <paramref name="headDim"/> (even) with base frequency <paramref name="theta"/>,
    /// optionally scaled.</summary>
    public RotaryEmbedding(int headDim, double theta, RopeScaling? scaling = null)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"head dimension {headDim} must be even", nameof(headDim));
        this.headDim = headDim;
        // As HF: 1 / theta^(arange(0, d, 2) / d) in fp32, then scaled.
        using (var scope = NewDisposeScope())
            invFreq = (1.0 / pow(theta, arange(0, headDim, 2, dtype: ScalarType.Int64).to(ScalarType.Float32) / headDim)).data<float>().ToArray();
        if (scaling is not null)
            for (int i = 0; i < invFreq.Length; i++) invFreq[i] = (float)scaling.Scale(invFreq[i]);
    }

    /// <summary>cos and sin tables [L, headDim] for positions start..start+length-1, fp32, on <paramref name="device"/>.</summary>
    public (Tensor Cos, Tensor Sin) Tables(long start, long length, Device device)
    {
        using var scope = NewDisposeScope();
        var (cos, sin) = FromPositions(arange(start, start + length, dtype: ScalarType.Int64, device: device));
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>cos and sin tables [B, 1, L, headDim] for per-row <paramref name="positions"/> [B, L] (packed rows, whose
    /// positions restart at each example), fp32; each entry equals the one <see cref="Tables(long, long, Device)"/> gives
    /// for that position.</summary>
    public (Tensor Cos, Tensor Sin) Tables(Tensor positions)
    {
        ArgumentNullException.ThrowIfNull(positions);
        using var scope = NewDisposeScope();
        var (cos, sin) = FromPositions(positions);
        return (cos.unsqueeze(1).MoveToOuterDisposeScope(), sin.unsqueeze(1).MoveToOuterDisposeScope());
    }

    /// <summary>cos and sin of <c>[p f, p f]</c> for every position p (any shape, int64) and inverse frequency f: [..., headDim].</summary>
    private (Tensor Cos, Tensor Sin) FromPositions(Tensor positions)
    {
        Tensor freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * tensor(invFreq, device: positions.device);
        Tensor emb = cat(new[] { freqs, freqs }, -1);
        return (emb.cos(), emb.sin());
    }

    /// <summary>The sin table with the sign of <c>rotate_half</c> moved onto it: <c>[-s1, s2]</c> for <c>sin = [s1, s2]</c>
    /// (same shape). <c>rotate_half(x) * sin = [-x2, x1] * [s1, s2] = roll(x, half) * [-s1, s2]</c>: the products are
    /// bit-identical, and roll's backward is a roll, where narrow + cat's allocates zero-filled copies. Built once per
    /// forward (<see cref="AttentionContext"/>) and shared by every layer's q and k.</summary>
    public static Tensor SignedSin(Tensor sin)
    {
        ArgumentNullException.ThrowIfNull(sin);
        long half = sin.shape[^1] / 2;
        using var scope = NewDisposeScope();
        return cat(new[] { -sin.narrow(-1, 0, half), sin.narrow(-1, half, half) }, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Applies the rotation to q or k [B, H, L, D] (computed in fp32, cast back) with the cos table and the
    /// <see cref="SignedSin"/> table.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor signedSin)
    {
        using var scope = NewDisposeScope();
        Tensor xf = x.to(ScalarType.Float32);
        return (xf * cos + xf.roll(x.shape[^1] / 2, -1) * signedSin).to(x.dtype).MoveToOuterDisposeScope();
    }
}
