using MoeDsl.Runtime.Lora;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>Gated MLP: <c>down_proj(act(gate_proj(x)) * up_proj(x))</c> (SwiGLU with silu, GeGLU with Gemma's tanh GELU);
/// each projection may carry adapters.</summary>
public sealed class LlamaMlp : FeedForwardBlock
{
    private readonly Projection gate_proj;
    private readonly Projection up_proj;
    private readonly Projection down_proj;
    private readonly Activation activation;

    /// <summary>The gated MLP over the given projections, registered under their Hugging Face names.</summary>
    public LlamaMlp(Projection gate_proj, Projection up_proj, Projection down_proj, Activation activation = Activation.Silu) : base("mlp")
    {
        this.activation = activation;
        this.gate_proj = gate_proj;
        this.up_proj = up_proj;
        this.down_proj = down_proj;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(Activations.Apply(activation, gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}
