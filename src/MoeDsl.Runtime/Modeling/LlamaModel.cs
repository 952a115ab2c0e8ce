using System;
using System.Linq;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>The decoder stack (state-dict prefix <c>model</c>): <c>embed_tokens</c>, <c>layers.N</c>, <c>norm</c>.</summary>
public sealed class LlamaModel : nn.Module<Tensor, KvCache?, Tensor>
{
    private readonly TokenEmbedding embed_tokens;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly RotaryEmbedding rotary;
    private readonly double? embedScale;

    /// <summary>Creates the stack; <paramref name="createLayer"/> builds layer i.</summary>
    public LlamaModel(LlamaConfig config, Func<int, LlamaDecoderLayer> createLayer) : base("model")
    {
        embed_tokens = new TokenEmbedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<LlamaDecoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++) layers.Add(createLayer(i));
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "norm", config.Family.Norm);
        rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling);
        // Gemma: embeddings x sqrt(hidden), the factor rounded to the activations' dtype first (as HF's normalizer).
        embedScale = config.Family.ScaleEmbeddings ? System.Math.Sqrt(config.HiddenSize) : null;
        RegisterComponents();
    }

    /// <summary>Token embeddings [V, d] (also the output head when tied).</summary>
    public Parameter EmbedWeight => embed_tokens.Weight;
    /// <summary>The decoder layers.</summary>
    public ModuleList<LlamaDecoderLayer> Layers => layers;

    /// <summary>Final hidden states [B, L, d] for token ids [B, L].</summary>
    public override Tensor forward(Tensor inputIds, KvCache? cache) => HiddenStates(inputIds, cache, null);

    /// <summary>Final hidden states [B, L, d] for token ids [B, L]; with <paramref name="packing"/> the rows hold several
    /// examples each (positions restart per example, attention stays within it; no cache).</summary>
    public Tensor HiddenStates(Tensor inputIds, KvCache? cache, PackedSegments? packing)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (packing is not null && cache is not null) throw new ArgumentException("packed rows are a training layout; decoding with a cache takes one example per row", nameof(packing));
        using var scope = NewDisposeScope();
        long past = cache?.Length ?? 0;
        Tensor x = embed_tokens.forward(inputIds);
        if (embedScale is double s) x = x * tensor(s, dtype: x.dtype, device: x.device);
        AttentionContext ctx;
        if (packing is null)
        {
            var (cos, sin) = rotary.Tables(past, inputIds.shape[1], x.device);
            ctx = new AttentionContext(cos, sin, cache);
        }
        else
        {
            var (cos, sin) = rotary.Tables(packing.Positions);
            ctx = new AttentionContext(cos, sin, null) { Packed = packing.Masks(layers.Select(l => l.Attention.Window)) };
        }
        foreach (LlamaDecoderLayer layer in layers) x = layer.forward(x, ctx);
        cache?.Advance(inputIds.shape[1]);
        return norm.forward(x).MoveToOuterDisposeScope();
    }
}
