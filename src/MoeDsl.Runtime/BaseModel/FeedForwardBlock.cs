using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>The MLP of a decoder layer (state-dict prefix <c>mlp</c>): a plain SwiGLU or a mixture of LoRA experts.</summary>
public abstract class FeedForwardBlock : nn.Module<Tensor, Tensor>
{
    /// <summary>Registers the block under the module name <paramref name="name"/>.</summary>
    protected FeedForwardBlock(string name) : base(name) { }
}
