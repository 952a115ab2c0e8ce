using System;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Where a layer's attention reads positions and cached keys from during one forward.</summary>
public sealed class AttentionContext
{
    /// <summary>The rotary tables of the current positions and, when decoding incrementally, the cache.</summary>
    public AttentionContext(Tensor cos, Tensor sin, KvCache? cache)
    {
        Cos = cos;
        Sin = sin;
        SignedSin = RotaryEmbedding.SignedSin(sin);
        Cache = cache;
    }
    /// <summary>Rotary cos [L, D] for the current positions.</summary>
    public Tensor Cos { get; }
    /// <summary>Rotary sin [L, D].</summary>
    public Tensor Sin { get; }
    /// <summary><see cref="Sin"/> with rotate_half's sign on it (<see cref="RotaryEmbedding.SignedSin"/>), built once here
    /// for every layer.</summary>
    public Tensor SignedSin { get; }
    /// <summary>The cache, when decoding incrementally.</summary>
    public KvCache? Cache { get; }
    /// <summary>Packed rows (sequence packing): the block-diagonal causal masks that keep attention within each example,
    /// used in place of <see cref="LlamaAttention.Mask"/>; then <see cref="Cos"/> and <see cref="Sin"/> are per row
    /// [B, 1, L, D]. Null (no packing) changes nothing.</summary>
    public PackedMasks? Packed { get; init; }
}

/// <summary>Grouped-query self-attention with rotary embeddings (state-dict prefix <c>self_attn</c>), with what the families
/// add: per-head <c>q_norm</c>/<c>k_norm</c> before the rotation (Qwen3), a score scale from <c>query_pre_attn_scalar</c>
/// and tanh soft-capping of the scores (Gemma 2), and a sliding window (Mistral, Qwen2/3, Gemma 2, Phi-3): a token sees
/// itself and the <c>window - 1</c> positions before it, with or without the cache (the cache keeps every position; the
/// mask hides the old ones).</summary>
public sealed class LlamaAttention : nn.Module<Tensor, AttentionContext, Tensor>
{
    private readonly Projection q_proj;
    private readonly Projection k_proj;
    private readonly Projection v_proj;
    private readonly Projection o_proj;
    private readonly RmsNorm? q_norm;
    private readonly RmsNorm? k_norm;
    private readonly int heads;
    private readonly int kvHeads;
    private readonly int headDim;
    private readonly int layer;
    private readonly int? window;
    private readonly double scale;
    private readonly double? softCap;

    /// <summary>Attention of decoder layer <paramref name="layer"/> (head counts, window and the family's extras from
    /// <paramref name="config"/>) over the given projections, which are registered under their Hugging Face names.</summary>
    public LlamaAttention(LlamaConfig config, int layer, Projection q_proj, Projection k_proj, Projection v_proj, Projection o_proj) : base("self_attn")
    {
        this.q_proj = q_proj;
        this.k_proj = k_proj;
        this.v_proj = v_proj;
        this.o_proj = o_proj;
        heads = config.NumAttentionHeads;
        kvHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        if (config.Family.QkNorm)
        {
            q_norm = new RmsNorm(headDim, config.RmsNormEps, "q_norm", config.Family.Norm);
            k_norm = new RmsNorm(headDim, config.RmsNormEps, "k_norm", config.Family.Norm);
        }
        this.layer = layer;
        window = config.WindowOf(layer);
        scale = config.AttentionScale;
        softCap = config.AttentionSoftCap;
        RegisterComponents();
    }

    /// <summary>The sliding window of this layer, or null.</summary>
    public int? Window => window;

    /// <inheritdoc />
    public override Tensor forward(Tensor x, AttentionContext ctx)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1];
        Tensor q = q_proj.forward(x).view(b, l, heads, headDim);
        Tensor k = k_proj.forward(x).view(b, l, kvHeads, headDim);
        Tensor v = v_proj.forward(x).view(b, l, kvHeads, headDim).transpose(1, 2);
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm!.forward(k);
        q = RotaryEmbedding.Apply(q.transpose(1, 2), ctx.Cos, ctx.SignedSin);
        k = RotaryEmbedding.Apply(k.transpose(1, 2), ctx.Cos, ctx.SignedSin);

        long past = 0;
        if (ctx.Cache is not null)
        {
            past = ctx.Cache.Length;
            (k, v) = ctx.Cache.Append(layer, k, v);
        }
        if (kvHeads != heads)
        {
            int groups = heads / kvHeads;
            k = k.repeat_interleave(groups, dim: 1);
            v = v.repeat_interleave(groups, dim: 1);
        }

        Tensor? mask = ctx.Packed?.For(window) ?? Mask(l, past, window, x.device, explicitCausal: softCap is not null);
        Tensor attn;
        if (softCap is double cap)
        {
            // Gemma 2 (eager): scores scaled, capped c tanh(s / c), masked, softmax in fp32.
            Tensor scores = q.matmul(k.transpose(2, 3)) * scale;
            scores = (scores / cap).tanh() * cap;
            if (mask is not null) scores = scores.masked_fill(mask.logical_not(), double.NegativeInfinity);
            attn = nn.functional.softmax(scores, -1, ScalarType.Float32).to(q.dtype).matmul(v);
        }
        else
        {
            // SDPA scales by 1 / sqrt(head_dim); another scale (query_pre_attn_scalar) goes onto q.
            double qFactor = scale * Math.Sqrt(headDim);
            if (Math.Abs(qFactor - 1.0) > 1e-12) q = q * qFactor;
            attn = mask is null
                ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: past == 0 && l > 1)
                : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        }
        Tensor merged = attn.transpose(1, 2).reshape(b, l, heads * headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }

    /// <summary>Which keys each of <paramref name="length"/> new queries sees after <paramref name="past"/> cached positions
    /// ([L, past + L], true = attend): key j for query i (absolute position past + i) when j &lt;= past + i and, with a
    /// window w, j &gt; past + i - w. Null when SDPA's causal flag (or no mask, for one new token) is exact; with
    /// <paramref name="explicitCausal"/> only when no mask is needed at all.</summary>
    public static Tensor? Mask(long length, long past, int? window, Device device, bool explicitCausal = false)
    {
        bool windowMatters = window is int w && past + length > w;
        if (!windowMatters && (length == 1 || (past == 0 && !explicitCausal))) return null;
        Tensor query = arange(past, past + length, dtype: ScalarType.Int64, device: device).unsqueeze(1);
        Tensor key = arange(0, past + length, dtype: ScalarType.Int64, device: device).unsqueeze(0);
        Tensor visible = key.le(query);
        if (window is int size) visible = visible.logical_and(key.gt(query - size));
        return visible;
    }
}
