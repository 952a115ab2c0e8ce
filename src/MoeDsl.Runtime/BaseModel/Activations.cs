using System;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>The MLP gate activations of <see cref="Activation"/>, one place for the plain MLP and the experts' FFN.</summary>
public static class Activations
{
    /// <summary>Applies <paramref name="activation"/> to <paramref name="x"/>.</summary>
    public static Tensor Apply(Activation activation, Tensor x) => activation switch
    {
        Activation.Silu => nn.functional.silu(x),
        Activation.GeluTanh => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        Activation.Gelu => nn.functional.gelu(x),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "not an activation"),
    };
}
