using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>A linear projection of the base model: a frozen <c>weight</c> [out, in] (no bias, as in LLaMA) plus whatever
/// adapters a subclass adds. Subclasses keep the frozen weight under the state-dict key <c>weight</c>.</summary>
public abstract class Projection : nn.Module<Tensor, Tensor>
{
    /// <summary>The frozen base weight (requires_grad = false).</summary>
    protected readonly Parameter weight;

    /// <summary>Creates the projection with an uninitialised frozen weight (filled by the checkpoint loader or an initialiser).</summary>
    protected Projection(string name, int inFeatures, int outFeatures) : base(name)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Tensor w = empty(outFeatures, inFeatures);
        using (no_grad()) nn.init.kaiming_uniform_(w, System.Math.Sqrt(5));
        weight = new Parameter(w, requires_grad: false);
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }
    /// <summary>Output features.</summary>
    public int OutFeatures { get; }
    /// <summary>The frozen base weight.</summary>
    public Parameter Weight => weight;

    /// <summary>LoRA dropout of the adapter input, computed in fp32.</summary>
    protected Tensor LoraInput(Tensor x, double dropout)
    {
        Tensor xf = x.to(ScalarType.Float32);
        return dropout > 0 ? nn.functional.dropout(xf, dropout, training) : xf;
    }
}
