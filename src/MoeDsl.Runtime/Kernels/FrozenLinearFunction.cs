using System.Collections.Generic;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>A frozen projection <c>y = x W^T (+ b)</c> as one autograd node on <see cref="FrozenGemm"/>: the forward and
/// the input gradient <c>dy W</c> both run on the AVX-512 GEMM; W and b get no gradient (they are frozen), so the node
/// keeps only W. Used by <see cref="FrozenMatVec.Linear"/> when x needs a gradient.</summary>
public sealed class FrozenLinearFunction : autograd.SingleTensorFunction<FrozenLinearFunction>
{
    /// <inheritdoc />
    public override string Name => "MoeDsl.FrozenLinear";

    /// <summary><c>x W^T + b</c> with its input gradient recorded; x fp32 [..., in], W fp32 [out, in], b [out] or null.</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias) => apply(x, weight, bias!);

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor x = (Tensor)vars[0], weight = (Tensor)vars[1];
        Tensor? bias = vars[2] as Tensor;
        ctx.save_for_backward(new List<Tensor> { weight });
        Tensor y = FrozenGemm.Linear(x, weight);
        if (bias is not null) y.add_(bias);
        return y;
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        Tensor weight = ctx.get_saved_variables()[0];
        return new List<Tensor> { FrozenGemm.InputGradient(grad_output, weight), null!, null! };
    }
}
