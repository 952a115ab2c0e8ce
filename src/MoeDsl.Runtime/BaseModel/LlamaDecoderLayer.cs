using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>One pre-norm decoder layer (state-dict prefix <c>model.layers.N</c>), the one decoder of every family.
/// LLaMA order: <c>h = x + attn(input_layernorm(x)); y = h + mlp(post_attention_layernorm(h))</c>. With the family's
/// sandwich norms (Gemma 2): <c>h = x + post_attention_layernorm(attn(input_layernorm(x)));
/// y = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))</c>.</summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, AttentionContext, Tensor>
{
    private readonly RmsNorm input_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly RmsNorm? pre_feedforward_layernorm;
    private readonly RmsNorm? post_feedforward_layernorm;
    private readonly FeedForwardBlock mlp;

    /// <summary>Creates a layer from its projections and MLP (wired by <see cref="Modeling.ModelBuilder"/>).</summary>
    public LlamaDecoderLayer(LlamaConfig config, int layer, Projection q_proj, Projection k_proj, Projection v_proj, Projection o_proj, FeedForwardBlock mlp)
        : base($"layer{layer}")
    {
        NormStyle style = config.Family.Norm;
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "input_layernorm", style);
        self_attn = new LlamaAttention(config, layer, q_proj, k_proj, v_proj, o_proj);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "post_attention_layernorm", style);
        if (config.Family.SandwichNorms)
        {
            pre_feedforward_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "pre_feedforward_layernorm", style);
            post_feedforward_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "post_feedforward_layernorm", style);
        }
        this.mlp = mlp;
        Index = layer;
        RegisterComponents();
    }

    /// <summary>The layer index.</summary>
    public int Index { get; }

    /// <summary>The MLP block.</summary>
    public FeedForwardBlock Mlp => mlp;

    /// <summary>The attention block.</summary>
    public LlamaAttention Attention => self_attn;

    /// <inheritdoc />
    public override Tensor forward(Tensor x, AttentionContext ctx)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (pre_feedforward_layernorm is null)
        {
            Tensor h = x + self_attn.forward(input_layernorm.forward(x), ctx);
            y = h + mlp.forward(post_attention_layernorm.forward(h));
        }
        else
        {
            Tensor h = x + post_attention_layernorm.forward(self_attn.forward(input_layernorm.forward(x), ctx));
            y = h + post_feedforward_layernorm!.forward(mlp.forward(pre_feedforward_layernorm.forward(h)));
        }
        return y.MoveToOuterDisposeScope();
    }
}
