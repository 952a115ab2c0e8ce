using static TorchSharp.torch;

namespace MoeDsl.Runtime.Routing;

/// <summary>A router: input [B, L, d] (any dtype) to a <see cref="RoutingDecision"/> over its experts, computed in fp32.</summary>
public abstract class Router : nn.Module<Tensor, RoutingDecision>
{
    /// <summary>Creates the router.</summary>
    protected Router(string name, int experts, double jitterNoise) : base(name)
    {
        Experts = experts;
        JitterNoise = jitterNoise;
    }

    /// <summary>Number of experts E.</summary>
    public int Experts { get; }

    /// <summary>Multiplicative jitter on the router input while training (MoE-PEFT's router_jitter_noise); 0 = off.</summary>
    public double JitterNoise { get; }

    /// <summary>The router input as fp32 [T, d], with jitter applied while training.</summary>
    protected Tensor RouterInput(Tensor x)
    {
        Tensor flat = x.reshape(-1, x.shape[^1]).to(ScalarType.Float32);
        if (training && JitterNoise > 0)
            flat = flat * empty_like(flat).uniform_(1.0 - JitterNoise, 1.0 + JitterNoise);
        return flat;
    }

    /// <summary>Top-k of the probabilities with weights renormalised to sum 1 (MixLoRA, MoLA, GMoE).</summary>
    protected static (Tensor Experts, Tensor Weights) TopKRenormalised(Tensor probs, int k)
    {
        var (values, indices) = probs.topk(k, dim: -1);
        Tensor weights = values / values.sum(-1, keepdim: true);
        return (indices, weights);
    }
}
