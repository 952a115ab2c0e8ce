using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>LLaMA RMSNorm, computed in fp32 and cast back: <c>weight * (x / sqrt(mean(x^2) + eps))</c>.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    /// <summary>RMS norm over <paramref name="hidden"/> features with epsilon <paramref name="eps"/> and a frozen weight of ones,
    /// registered as <paramref name="name"/>.</summary>
    public RmsNorm(int hidden, double eps, string name = "norm") : base(name)
    {
        weight = new Parameter(ones(hidden), requires_grad: false);
        this.eps = eps;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor xf = x.to(ScalarType.Float32);
        Tensor normed = xf * rsqrt(xf.pow(2).mean(new long[] { -1 }, keepdim: true) + eps);
        return (weight * normed.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
