using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>RMSNorm, computed in fp32: LLaMA's <c>weight * (x / sqrt(mean(x^2) + eps))</c> (normalised value cast back
/// before the weight) or Gemma's <c>(1 + weight) * ...</c> (weight applied in fp32, then cast back), per
/// <see cref="NormStyle"/>.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;
    private readonly NormStyle style;

    /// <summary>RMS norm over <paramref name="hidden"/> features with epsilon <paramref name="eps"/> and a frozen weight
    /// (ones, or zeros for <see cref="NormStyle.OnePlusWeight"/>: the identity either way), registered as <paramref name="name"/>.</summary>
    public RmsNorm(int hidden, double eps, string name = "norm", NormStyle style = NormStyle.Weight) : base(name)
    {
        weight = new Parameter(style == NormStyle.OnePlusWeight ? zeros(hidden) : ones(hidden), requires_grad: false);
        this.eps = eps;
        this.style = style;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor xf = x.to(ScalarType.Float32);
        Tensor normed = xf * rsqrt(xf.pow(2).mean(new long[] { -1 }, keepdim: true) + eps);
        Tensor result = style == NormStyle.OnePlusWeight
            ? (normed * (weight.to(ScalarType.Float32) + 1.0)).to(x.dtype)
            : weight * normed.to(x.dtype);
        return result.MoveToOuterDisposeScope();
    }
}
