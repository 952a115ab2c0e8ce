using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>A linear projection of the base model: a frozen <c>weight</c> [out, in], an optional frozen <c>bias</c> [out]
/// (Qwen2's q/k/v, <c>attention_bias</c>), plus whatever adapters a subclass adds. Subclasses keep the frozen weight under
/// the state-dict key <c>weight</c> and apply both through <see cref="BaseLinear"/>.</summary>
public abstract class Projection : nn.Module<Tensor, Tensor>
{
    /// <summary>The frozen base weight (requires_grad = false).</summary>
    protected readonly Parameter weight;
    /// <summary>The frozen base bias, or null.</summary>
    protected readonly Parameter? bias;

    /// <summary>Creates the projection with a randomly initialised frozen weight (and a zero bias when
    /// <paramref name="hasBias"/>), filled by the checkpoint loader; uninitialised when the model is built for a checkpoint
    /// (<see cref="Modeling.FrozenBase.LeaveUninitialised"/>).</summary>
    protected Projection(string name, int inFeatures, int outFeatures, bool hasBias = false) : base(name)
    {
        if (hasBias) bias = new Parameter(zeros(outFeatures), requires_grad: false);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Tensor w = empty(outFeatures, inFeatures);
        if (!Modeling.FrozenBase.LeaveUninitialised) using (no_grad()) nn.init.kaiming_uniform_(w, System.Math.Sqrt(5));
        weight = new Parameter(w, requires_grad: false);
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }
    /// <summary>Output features.</summary>
    public int OutFeatures { get; }
    /// <summary>The frozen base weight.</summary>
    public Parameter Weight => weight;

    /// <summary>The frozen base bias, or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>The frozen projection <c>W x + b</c> (<see cref="Kernels.FrozenMatVec.Linear"/>: a few rows without a gradient,
    /// as in decoding, stream W on every thread; everything else is <c>nn.functional.linear</c>).</summary>
    protected Tensor BaseLinear(Tensor x) => Kernels.FrozenMatVec.Linear(x, weight, bias);

    /// <summary>LoRA dropout of the adapter input, computed in fp32 (<see cref="Kernels.DropoutMasks"/>).</summary>
    protected Tensor LoraInput(Tensor x, double dropout) => Kernels.DropoutMasks.Apply(x.to(ScalarType.Float32), dropout, training);
}
