using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>A base projection without adapters.</summary>
public sealed class FrozenLinear : Projection
{
    /// <summary>A frozen [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] projection under the state-dict name <paramref name="name"/>.</summary>
    public FrozenLinear(int inFeatures, int outFeatures, string name = "proj", bool hasBias = false) : base(name, inFeatures, outFeatures, hasBias)
    {
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => BaseLinear(x);
}
