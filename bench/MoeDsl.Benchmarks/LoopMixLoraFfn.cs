using MoeDsl.Runtime.Experts;
using MoeDsl.Runtime.Kernels;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Benchmarks;

/// <summary>The MoE-PEFT way of running a MixLoRA FFN, written here as the baseline of <c>fused_vs_loop_ffn</c>, on the
/// very parameters of one of our <see cref="MoeFeedForward"/> layers: the frozen <c>W_gate x</c> and <c>W_up x</c>
/// once for all tokens, then a loop over the experts that finds each expert's tokens with a boolean mask and
/// <c>nonzero</c> (a host synchronisation), gathers them, applies that expert's LoRA'd gate/up, its own full down
/// projection (frozen <c>W_down</c> plus its down LoRA), scales by the routing weight and index_adds into the output.</summary>
internal sealed class LoopMixLoraFfn
{
    private readonly MoeFeedForward ffn;
    private readonly int experts;
    private readonly double scaling;

    public LoopMixLoraFfn(MoeFeedForward ffn, int experts, double scaling)
    {
        this.ffn = ffn;
        this.experts = experts;
        this.scaling = scaling;
    }

    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        Tensor xt = x.reshape(b * l, d);
        RoutingDecision decision = ffn.Router.forward(x);                               // [T, k] experts and weights
        Tensor commonGate = FrozenMatVec.Linear(xt, ffn.GateProj.Weight);        // the frozen projections on MoeDsl's own path,
        Tensor commonUp = FrozenMatVec.Linear(xt, ffn.UpProj.Weight);            // as in the fused FFN: the figure compares the methods
        Tensor result = zeros_like(xt);
        Tensor expertMask = nn.functional.one_hot(decision.Experts, experts).permute(2, 1, 0); // [E, k, T]
        for (int e = 0; e < experts; e++)
        {
            Tensor where = expertMask[e].nonzero();                                    // host sync: sizes; [n, 2] (slot, token)
            Tensor slot = where.select(1, 0), tokens = where.select(1, 1);
            if (tokens.shape[0] == 0) continue;
            Tensor current = xt.index_select(0, tokens);
            Tensor gate = commonGate.index_select(0, tokens) + Lora(current, ffn.GateProj.Experts.ExpertA(e), ffn.GateProj.Experts.ExpertB(e));
            Tensor up = commonUp.index_select(0, tokens) + Lora(current, ffn.UpProj.Experts.ExpertA(e), ffn.UpProj.Experts.ExpertB(e));
            Tensor h = nn.functional.silu(gate) * up;
            Tensor down = FrozenMatVec.Linear(h, ffn.DownProj.Weight) + Lora(h, ffn.DownProj.Experts.ExpertA(e), ffn.DownProj.Experts.ExpertB(e));
            Tensor w = decision.Weights.index(tokens, slot).unsqueeze(-1);
            result = result.index_add(0, tokens, down * w, 1.0);
        }
        return result.view(b, l, d).MoveToOuterDisposeScope();
    }

    private Tensor Lora(Tensor x, Tensor a, Tensor bMatrix) => nn.functional.linear(nn.functional.linear(x, a), bMatrix) * scaling;
}
