using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Where a layer's attention reads positions and cached keys from during one forward.</summary>
public sealed class AttentionContext
{
    /// <summary>The rotary tables of the current positions and, when decoding incrementally, the cache.</summary>
    public AttentionContext(Tensor cos, Tensor sin, KvCache? cache) { Cos = cos; Sin = sin; Cache = cache; }
    /// <summary>Rotary cos [L, D] for the current positions.</summary>
    public Tensor Cos { get; }
    /// <summary>Rotary sin [L, D].</summary>
    public Tensor Sin { get; }
    /// <summary>The cache, when decoding incrementally.</summary>
    public KvCache? Cache { get; }
}

/// <summary>LLaMA grouped-query self-attention with rotary embeddings (state-dict prefix <c>self_attn</c>).</summary>
public sealed class LlamaAttention : nn.Module<Tensor, AttentionContext, Tensor>
{
    private readonly Projection q_proj;
    private readonly Projection k_proj;
    private readonly Projection v_proj;
    private readonly Projection o_proj;
    private readonly int heads;
    private readonly int kvHeads;
    private readonly int headDim;
    private readonly int layer;

    /// <summary>Attention of decoder layer <paramref name="layer"/> (head counts from <paramref name="config"/>) over the
    /// given projections, which are registered under their Hugging Face names.</summary>
    public LlamaAttention(LlamaConfig config, int layer, Projection q_proj, Projection k_proj, Projection v_proj, Projection o_proj) : base("self_attn")
    {
        this.q_proj = q_proj;
        this.k_proj = k_proj;
        this.v_proj = v_proj;
        this.o_proj = o_proj;
        heads = config.NumAttentionHeads;
        kvHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        this.layer = layer;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x, AttentionContext ctx)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1];
        Tensor q = q_proj.forward(x).view(b, l, heads, headDim).transpose(1, 2);
        Tensor k = k_proj.forward(x).view(b, l, kvHeads, headDim).transpose(1, 2);
        Tensor v = v_proj.forward(x).view(b, l, kvHeads, headDim).transpose(1, 2);
        q = RotaryEmbedding.Apply(q, ctx.Cos, ctx.Sin);
        k = RotaryEmbedding.Apply(k, ctx.Cos, ctx.Sin);

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

        Tensor attn;
        if (past == 0 || l == 1)
        {
            // No cache, or one new token that may see every cached position: the causal flag (or none) is exact.
            attn = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: past == 0 && l > 1);
        }
        else
        {
            // Several new tokens after a cached prefix: token i sees the prefix and new tokens 0..i.
            Tensor mask = ones(l, past + l, dtype: ScalarType.Bool, device: x.device).tril(past);
            attn = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        }
        Tensor merged = attn.transpose(1, 2).reshape(b, l, heads * headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }
}
