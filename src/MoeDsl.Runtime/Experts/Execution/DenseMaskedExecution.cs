using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts.Execution;

/// <summary>MixLoRA's FFN with the experts' LoRA dense-masked (<see cref="ExpertExecution.DenseMasked"/>).</summary>
internal static class DenseMaskedExecution
{
    /// <summary>Dense-masked: static shapes, no sort, no gather, no host synchronisation; every slot runs a GEMM pair of
    /// inner dimension E*r with the blocks of the experts it did not choose zeroed. <paramref name="masks"/>: the pairs' dropout masks
    /// while training (<see cref="MixLoraDropout"/>), viewed slot-major here.</summary>
    public static Tensor Forward(MoeFeedForward ffn, Tensor x, RoutingDecision decision, MixLoraDropout.Masks? masks)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        long t = b * l;
        int e = ffn.ExpertCount, r = ffn.Lora.Rank;
        double s = ffn.Lora.Scaling;

        Tensor slotExperts = decision.Experts.t();                                      // [S, T]
        Tensor slotWeights = decision.Weights.t().unsqueeze(-1);                        // [S, T, 1]
        Tensor slotMask = nn.functional.one_hot(slotExperts, e).to(ScalarType.Float32); // [S, T, E]

        long k = slotExperts.shape[0];
        var (g0, u0, xf) = ffn.FrozenGateUpAndInput(x.reshape(t, d));                  // frozen, once: [T, I]
        // The gate and up LoRA inputs: the tokens once for every slot without dropout, else each slot's own masks [S, T, d].
        Tensor gateIn = xf.unsqueeze(0), upIn = gateIn;
        if (masks is not null)
        {
            Tensor keep = masks.GateUp.view(t, k, 2, d).permute(2, 1, 0, 3);                  // [2, S, T, d]
            gateIn = MixLoraDropout.Apply(gateIn, keep[0], ffn.Lora.Dropout);
            upIn = MixLoraDropout.Apply(upIn, keep[1], ffn.Lora.Dropout);
        }

        // Each slot's chosen expert's r-block of x A_all^T, the others zeroed; then one GEMM with the stacked B.
        Tensor gA = ExpertStack.WeightBlocks(nn.functional.linear(gateIn, ffn.GateProj.Experts.StackedA()), slotMask, e, r); // [S, T, E*r]
        Tensor uA = ExpertStack.WeightBlocks(nn.functional.linear(upIn, ffn.UpProj.Experts.StackedA()), slotMask, e, r);
        Tensor gate = g0.unsqueeze(0) + nn.functional.linear(gA, ffn.GateProj.Experts.StackedB()) * s;                            // [S, T, I]
        Tensor up = u0.unsqueeze(0) + nn.functional.linear(uA, ffn.UpProj.Experts.StackedB()) * s;
        Tensor h = ffn.Gated(gate, up);                                                                       // [S, T, I]

        // Frozen W_down once, on sum_j w_j h_j.
        Tensor mixed = (h * slotWeights).sum(dim: 0);                                                                   // [T, I]
        Tensor y = ffn.DownProj.forward(mixed.to(x.dtype)).to(ScalarType.Float32);
        // Experts' down-LoRA: sum_j w_j B_j A_j dropout(h_j) as one masked GEMM pair.
        Tensor hd = masks is null ? h : MixLoraDropout.Apply(h, masks.Hidden.view(t, k, -1).transpose(0, 1), ffn.Lora.Dropout);
        Tensor dA = ExpertStack.WeightBlocks(nn.functional.linear(hd, ffn.DownProj.Experts.StackedA()), slotMask * slotWeights, e, r).sum(dim: 0); // [T, E*r]
        y = y + nn.functional.linear(dA, ffn.DownProj.Experts.StackedB()) * s;
        return y.to(x.dtype).view(b, l, d);
    }
}
