using System.Collections.Generic;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>A linear layer <c>y = x W^T (+ b)</c> as one autograd node on <see cref="WideGemm"/>: the forward, the input
/// gradient <c>dy W</c> and, when W trains, its gradient <c>dy^T x</c> all run on the AVX-512 GEMM; a frozen W keeps
/// only itself for backward, a trained one keeps x too. Used by <see cref="FrozenMatVec.Linear"/> (every frozen projection
/// and the head) and the Graph router's layers; <see cref="Linear"/> falls back to <c>nn.functional.linear</c> where
/// <see cref="WideGemm.Covers"/> says no.</summary>
public sealed class WideLinear : autograd.SingleTensorFunction<WideLinear>
{
    /// <inheritdoc />
    public override string Name => "MoeDsl.WideLinear";

    /// <summary><c>x W^T</c> (fp32; x [..., in], W [out, in]) on the wide GEMM when it covers the product, with whatever
    /// gradients x and W need recorded; else <c>nn.functional.linear</c>.</summary>
    public static Tensor Linear(Tensor x, Tensor weight)
        => WideGemm.Covers(x, weight) ? Apply(x, weight, null) : nn.functional.linear(x, weight);

    /// <summary><c>x W^T + b</c> on the wide GEMM (the caller checked <see cref="WideGemm.Covers"/>): an autograd node when
    /// x, W or b needs a gradient, else the product alone.</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        if (is_grad_enabled() && (x.requires_grad || weight.requires_grad || bias is { requires_grad: true })) return apply(x, weight, bias!);
        return Product(x, weight, bias);
    }

    private static Tensor Product(Tensor x, Tensor weight, Tensor? bias)
    {
        Tensor y = WideGemm.Linear(x, weight);
        return bias is null ? y : y.add_(bias);
    }

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor x = (Tensor)vars[0], weight = (Tensor)vars[1];
        Tensor? bias = vars[2] as Tensor;
        ctx.save_for_backward(weight.requires_grad ? new List<Tensor> { weight, x } : new List<Tensor> { weight });
        ctx.save_data("needs", (x.requires_grad, bias is { requires_grad: true }));
        return Product(x, weight, bias);
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        var (inputNeeds, biasNeeds) = ((bool, bool))ctx.get_data("needs");
        Tensor weight = saved[0];
        Tensor dy = grad_output.contiguous();
        Tensor? dx = inputNeeds ? WideGemm.InputGradient(dy, weight) : null;
        Tensor? dw = saved.Count > 1 ? WideGemm.WeightGradient(dy, saved[1]) : null;
        Tensor? db = biasNeeds ? dy.reshape(-1, dy.shape[^1]).sum(dim: 0) : null;
        return new List<Tensor> { dx!, dw!, db! };
    }
}
