using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>One pre-norm LLaMA decoder layer (state-dict prefix <c>model.layers.N</c>).</summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, AttentionContext, Tensor>
{
    private readonly RmsNorm input_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly FeedForwardBlock mlp;

    /// <summary>Creates a layer from its projections and MLP (wired by <see cref="Modeling.ModelBuilder"/>).</summary>
    public LlamaDecoderLayer(LlamaConfig config, int layer, Projection q_proj, Projection k_proj, Projection v_proj, Projection o_proj, FeedForwardBlock mlp)
        : base($"layer{layer}")
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "input_layernorm");
        self_attn = new LlamaAttention(config, layer, q_proj, k_proj, v_proj, o_proj);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, "post_attention_layernorm");
        this.mlp = mlp;
        Index = layer;
        RegisterComponents();
    }

    /// <summary>The layer index.</summary>
    public int Index { get; }

    /// <summary>The MLP block.</summary>
    public FeedForwardBlock Mlp => mlp;

    /// <inheritdoc />
    public override Tensor forward(Tensor x, AttentionContext ctx)
    {
        using var scope = NewDisposeScope();
        Tensor h = x + self_attn.forward(input_layernorm.forward(x), ctx);
        Tensor y = h + mlp.forward(post_attention_layernorm.forward(h));
        return y.MoveToOuterDisposeScope();
    }
}
