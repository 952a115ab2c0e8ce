using System;
using System.Linq;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Checkpoints;

/// <summary>The configs the tool writes checkpoints for: per family a tiny one that exercises everything the family
/// changes (explicit head dims, biases, a sliding window shorter than a test sequence, soft caps that bite, llama3 rope
/// scaling across its three frequency bands), and the real shapes of two models people fine-tune (for the benchmark).</summary>
public static class FamilyShapes
{
    /// <summary>Sliding window of the tiny checkpoints: shorter than the 8-token prompt plus 32 generated tokens.</summary>
    public const int TinyWindow = 8;

    /// <summary>The tiny config of <paramref name="family"/> (3 layers, hidden 64, 4 heads sharing 2 kv heads, vocab 256).</summary>
    public static LlamaConfig Tiny(ModelFamily family)
    {
        ArgumentNullException.ThrowIfNull(family);
        var c = new LlamaConfig(64, 128, 3, 4, 2, 256, 1e-6, 10000.0, family.TieEmbeddingsDefault, 512, 1, 2) { Family = family, HiddenActivation = family.DefaultActivation };
        if (family == ModelFamily.Llama)
            return c with { RopeScaling = new RopeScaling("llama3", 8.0, 1.0, 4.0, 64), OutputBias = true, QkvBias = true };
        if (family == ModelFamily.Mistral) return c with { SlidingWindow = TinyWindow };
        if (family == ModelFamily.Qwen2) return c with { QkvBias = true, TieWordEmbeddings = true, SlidingWindow = TinyWindow, MaxWindowLayers = 1, RopeTheta = 1000000.0 };
        if (family == ModelFamily.Qwen3) return c with { ExplicitHeadDim = 32 };
        if (family == ModelFamily.Gemma) return c with { ExplicitHeadDim = 32 };
        if (family == ModelFamily.Gemma2)
            return c with { ExplicitHeadDim = 32, SlidingWindow = TinyWindow, AttentionSoftCap = 5.0, FinalSoftCap = 0.2, QueryPreAttnScalar = 24 };
        if (family == ModelFamily.Phi3) return c with { SlidingWindow = TinyWindow, RmsNormEps = 1e-5 };
        throw new ArgumentException($"no tiny shape for {family.ModelType}", nameof(family));
    }

    /// <summary>Qwen2.5-0.5B's config.json shape (24 layers, hidden 896, 14 heads / 2 kv heads, intermediate 4864,
    /// vocab 151,936, tied, q/k/v bias).</summary>
    public static LlamaConfig Qwen25HalfB { get; } = new LlamaConfig(896, 4864, 24, 14, 2, 151936, 1e-6, 1000000.0, true, 32768, 151643, 151645)
    { Family = ModelFamily.Qwen2, QkvBias = true, MaxWindowLayers = 21 };

    /// <summary>Llama-3.2-1B's config.json shape (16 layers, hidden 2048, 32 heads / 8 kv heads, head dim 64,
    /// intermediate 8192, vocab 128,256, tied, llama3 rope scaling factor 32).</summary>
    public static LlamaConfig Llama32OneB { get; } = new LlamaConfig(2048, 8192, 16, 32, 8, 128256, 1e-5, 500000.0, true, 131072, 128000, 128001)
    { Family = ModelFamily.Llama, ExplicitHeadDim = 64, RopeScaling = new RopeScaling("llama3", 32.0, 1.0, 4.0, 8192) };

    /// <summary>The ~110M llama of llama2.c's stories110M (hidden 768, 12 layers, 12 heads, intermediate 2048, vocab 32,000,
    /// untied head: 134M parameters, a 0.54 GB fp32 file): the inference benchmark against llama.cpp.</summary>
    public static LlamaConfig Llama110M { get; } = new LlamaConfig(768, 2048, 12, 12, 12, 32000, 1e-5, 10000.0, false, 1024, 1, 2)
    { Family = ModelFamily.Llama };

    /// <summary>A shape by name: a family's model_type (tiny), "qwen2.5-0.5b", "llama-3.2-1b" or "llama-110m".</summary>
    public static LlamaConfig Named(string name) => name switch
    {
        "llama-110m" => Llama110M,
        "qwen2.5-0.5b" => Qwen25HalfB,
        "llama-3.2-1b" => Llama32OneB,
        _ => ModelFamily.ForModelType(name) is ModelFamily f ? Tiny(f)
            : throw new ArgumentException($"unknown shape '{name}'; known: {string.Join(", ", ModelFamily.All.Select(x => x.ModelType))}, qwen2.5-0.5b, llama-3.2-1b, llama-110m"),
    };
}
