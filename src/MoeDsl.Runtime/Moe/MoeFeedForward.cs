using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Moe;

/// <summary>One of the FFN's shared projections: the frozen <c>weight</c> plus every expert's LoRA on it
/// (<c>experts.{e}.lora_A.weight</c>, <c>experts.{e}.lora_B.weight</c>), as MoE-PEFT lays out MixLoRA.</summary>
public sealed class SharedExpertProjection : Projection
{
    private readonly ModuleList<LoraExpert> experts;

    /// <summary>Creates it.</summary>
    public SharedExpertProjection(int inFeatures, int outFeatures, int expertCount, int rank, string name) : base(name, inFeatures, outFeatures)
    {
        experts = new ModuleList<LoraExpert>();
        for (int e = 0; e < expertCount; e++) experts.Add(new LoraExpert(inFeatures, outFeatures, rank));
        RegisterComponents();
    }

    /// <summary>The experts' adapters.</summary>
    public ModuleList<LoraExpert> Experts => experts;

    /// <summary>The frozen projection alone.</summary>
    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight);

    /// <summary>[E*r, in]</summary>
    public Tensor StackedA() => ExpertStack.StackA(experts);
    /// <summary>[out, E*r]</summary>
    public Tensor StackedB() => ExpertStack.StackB(experts);
}

/// <summary>MixLoRA's FFN (FeedForward placement), fused:
/// <c>y = sum_{j in S} w_j E_j(x)</c> with <c>E_j(x) = (W_d + dD_j)[silu((W_g + dG_j) x) * ((W_u + dU_j) x)]</c>.
/// The frozen <c>W_g x</c> and <c>W_u x</c> are computed once for all tokens, the frozen <c>W_d</c> is applied once to
/// <c>sum_j w_j h_j</c> (it is linear); the experts' LoRA runs grouped (pairs sorted by expert, rank-r GEMMs per
/// segment) or dense-masked (stacked A's and B's, static shapes, no host synchronisation), see <see cref="Execution"/>.
/// State-dict keys: <c>moe_gate.*</c>, <c>{gate,up,down}_proj.weight</c> (frozen), <c>{gate,up,down}_proj.experts.{e}.lora_{A,B}.weight</c>.</summary>
public sealed class MoeFeedForward : FeedForwardBlock
{
    private readonly Router moe_gate;
    private readonly SharedExpertProjection gate_proj;
    private readonly SharedExpertProjection up_proj;
    private readonly SharedExpertProjection down_proj;
    private readonly LoraSettings lora;
    private readonly RoutingRecorder recorder;
    private readonly int layer;
    private readonly int expertCount;

    /// <summary>Creates it.</summary>
    public MoeFeedForward(int hidden, int intermediate, int experts, LoraSettings lora, Router router, RoutingRecorder recorder, int layer)
        : base("mlp")
    {
        moe_gate = router;
        gate_proj = new SharedExpertProjection(hidden, intermediate, experts, lora.Rank, "gate_proj");
        up_proj = new SharedExpertProjection(hidden, intermediate, experts, lora.Rank, "up_proj");
        down_proj = new SharedExpertProjection(intermediate, hidden, experts, lora.Rank, "down_proj");
        this.lora = lora;
        this.recorder = recorder;
        this.layer = layer;
        expertCount = experts;
        RegisterComponents();
    }

    /// <summary>The router.</summary>
    public Router Router => moe_gate;
    /// <summary>gate_proj with its experts.</summary>
    public SharedExpertProjection GateProj => gate_proj;
    /// <summary>up_proj with its experts.</summary>
    public SharedExpertProjection UpProj => up_proj;
    /// <summary>down_proj with its experts.</summary>
    public SharedExpertProjection DownProj => down_proj;

    /// <summary>How the experts' LoRA runs. <see cref="ExpertExecution.Auto"/> (default) picks per forward, see
    /// <see cref="Resolve"/>.</summary>
    public ExpertExecution Execution { get; set; } = ExpertExecution.Auto;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        RoutingDecision decision = moe_gate.forward(x);
        Tensor y = Resolve(Execution, x.shape[0] * x.shape[1] * decision.Experts.shape[1], expertCount, lora.Rank, (int)gate_proj.OutFeatures, x.device_type) switch
        {
            ExpertExecution.Fused => ForwardFused(x, decision),
            ExpertExecution.Grouped => ForwardGrouped(x, decision),
            _ => ForwardDenseMasked(x, decision),
        };
        recorder.Add(layer, "mlp", moe_gate, decision);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The execution a forward of <paramref name="pairs"/> (token, slot) pairs runs. <see cref="ExpertExecution.Auto"/>:
    /// fused on the CPU once the FLOPs dense-masked would spend on the unchosen experts' blocks (three I-wide GEMMs of inner
    /// dimension E*r instead of r, forward and backward: <c>6 P (E-1) r I</c>) reach 1.5e8 (a few milliseconds of fp32
    /// GEMM, about twice what the per-expert op calls cost); dense-masked below that and on CUDA, where the segment
    /// sizes' one host read would stall the stream (not measured: no GPU here). Issue #5 quick shape
    /// (256 tokens, top-2, 8 experts, r=16, I=1408): 4.8e8, fused; the tests' toy layers: dense-masked.</summary>
    public static ExpertExecution Resolve(ExpertExecution execution, long pairs, int experts, int rank, int intermediate, DeviceType device) => execution switch
    {
        ExpertExecution.Auto => device == DeviceType.CPU && 6.0 * pairs * (experts - 1) * rank * intermediate >= 1.5e8
            ? ExpertExecution.Fused : ExpertExecution.DenseMasked,
        _ => execution,
    };

    /// <summary>Fused: the whole FFN as one autograd function that recomputes gate, up and h in backward instead of
    /// keeping them (<see cref="FusedExpertFeedForward"/>).</summary>
    private Tensor ForwardFused(Tensor x, RoutingDecision decision)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        var settings = new FusedExpertSettings(expertCount, lora.Rank, lora.Scaling, lora.Dropout, training);
        Tensor y = FusedExpertFeedForward.Apply(x.reshape(b * l, d), gate_proj.Weight, up_proj.Weight, down_proj.Weight,
            ExpertStack.StackInterleavedA(gate_proj.Experts, up_proj.Experts), ExpertStack.StackBTransposed(gate_proj.Experts),
            ExpertStack.StackBTransposed(up_proj.Experts), down_proj.StackedA(), down_proj.StackedB(), decision.Weights, decision.Experts, settings);
        return y.view(b, l, d);
    }

    /// <summary>Dense-masked: static shapes, no sort, no gather, no host synchronisation; every slot runs a GEMM pair of
    /// inner dimension E*r with the blocks of the experts it did not choose zeroed.</summary>
    private Tensor ForwardDenseMasked(Tensor x, RoutingDecision decision)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        long t = b * l;
        int e = expertCount, r = lora.Rank;
        double s = lora.Scaling;

        Tensor slotExperts = decision.Experts.t();                                      // [S, T]
        Tensor slotWeights = decision.Weights.t().unsqueeze(-1);                        // [S, T, 1]
        Tensor slotMask = nn.functional.one_hot(slotExperts, e).to(ScalarType.Float32); // [S, T, E]

        Tensor xt = x.reshape(t, d);
        Tensor g0 = gate_proj.forward(xt).to(ScalarType.Float32);                       // frozen, once: [T, I]
        Tensor u0 = up_proj.forward(xt).to(ScalarType.Float32);
        Tensor xd = lora.Dropout > 0 ? nn.functional.dropout(xt.to(ScalarType.Float32), lora.Dropout, training) : xt.to(ScalarType.Float32);

        // Each slot's chosen expert's r-block of x A_all^T, the others zeroed; then one GEMM with the stacked B.
        Tensor gA = ExpertStack.WeightBlocks(nn.functional.linear(xd, gate_proj.StackedA()).unsqueeze(0), slotMask, e, r); // [S, T, E*r]
        Tensor uA = ExpertStack.WeightBlocks(nn.functional.linear(xd, up_proj.StackedA()).unsqueeze(0), slotMask, e, r);
        Tensor gate = g0.unsqueeze(0) + nn.functional.linear(gA, gate_proj.StackedB()) * s;                            // [S, T, I]
        Tensor up = u0.unsqueeze(0) + nn.functional.linear(uA, up_proj.StackedB()) * s;
        Tensor h = nn.functional.silu(gate) * up;                                                                       // [S, T, I]

        // Frozen W_down once, on sum_j w_j h_j.
        Tensor mixed = (h * slotWeights).sum(dim: 0);                                                                   // [T, I]
        Tensor y = down_proj.forward(mixed.to(x.dtype)).to(ScalarType.Float32);
        // Experts' down-LoRA: sum_j w_j B_j A_j dropout(h_j) as one masked GEMM pair.
        Tensor hd = lora.Dropout > 0 ? nn.functional.dropout(h, lora.Dropout, training) : h;
        Tensor dA = ExpertStack.WeightBlocks(nn.functional.linear(hd, down_proj.StackedA()), slotMask * slotWeights, e, r).sum(dim: 0); // [T, E*r]
        y = y + nn.functional.linear(dA, down_proj.StackedB()) * s;
        return y.to(x.dtype).view(b, l, d);
    }

    /// <summary>Grouped: the (token, slot) pairs sorted by expert (stable), so that every GEMM whose width is the FFN's
    /// intermediate size runs at rank r, not E*r. The narrow GEMMs stay dense: all experts' gate and up A in one GEMM
    /// on the T tokens (<c>[T, 2*E*r]</c>), each pair's chosen r-blocks gathered; per expert one B GEMM for gate and
    /// one for up and one down-A GEMM on its contiguous segment; the weighted down-A rows scattered into
    /// <c>[T, E*r]</c> and one GEMM with the stacked down B. Reads the E segment sizes on the host once per forward.</summary>
    private Tensor ForwardGrouped(Tensor x, RoutingDecision decision)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        long t = b * l;
        long k = decision.Experts.shape[1];
        int e = expertCount, r = lora.Rank;
        double s = lora.Scaling;

        Tensor xt = x.reshape(t, d);
        Tensor g0 = gate_proj.forward(xt).to(ScalarType.Float32);                       // frozen, once: [T, I]
        Tensor u0 = up_proj.forward(xt).to(ScalarType.Float32);
        Tensor xd = lora.Dropout > 0 ? nn.functional.dropout(xt.to(ScalarType.Float32), lora.Dropout, training) : xt.to(ScalarType.Float32);

        var (sortedExpert, order) = decision.Experts.reshape(-1).sort(dim: 0, descending: false, stable: true); // pair p = token * k + slot
        Tensor pairToken = order.div(k, rounding_mode: RoundingMode.floor);             // [P] token of each sorted pair
        Tensor pairRow = pairToken * e + sortedExpert;                                   // [P] row (token, expert) of a [T*E, .] view
        Tensor pairWeight = decision.Weights.reshape(-1).index_select(0, order).unsqueeze(-1); // [P, 1]
        long[] counts = sortedExpert.bincount(null, e).cpu().data<long>().ToArray();    // the one host read

        // Gate and up A of every expert in one GEMM, laid out [T, E, (gate r | up r)]; each pair takes its expert's 2r.
        Tensor aGateUp = nn.functional.linear(xd, ExpertStack.StackInterleavedA(gate_proj.Experts, up_proj.Experts)); // [T, E*2r]
        Tensor pairA = aGateUp.view(t * e, 2 * r).index_select(0, pairRow) * s;         // [P, 2r], scaled here (rank-wide, not I-wide)
        var (gateDelta, upDelta) = GateUpSegments(pairA, counts, r);                     // [P, I] each
        // In place on the fresh GEMM outputs (cat or linear; neither saves its output for backward): no extra [P, I] tensors.
        Tensor gate = gateDelta.add_(g0.index_select(0, pairToken));                    // [P, I]
        Tensor up = upDelta.add_(u0.index_select(0, pairToken));
        Tensor h = nn.functional.silu(gate) * up;                                       // [P, I]

        // Frozen W_down once, on sum_j w_j h_j.
        Tensor mixed = zeros(t, h.shape[1], dtype: ScalarType.Float32, device: h.device).index_add(0, pairToken, h * pairWeight, 1.0);
        Tensor y = down_proj.forward(mixed.to(x.dtype)).to(ScalarType.Float32);
        // Experts' down-LoRA: sum_j w_j B_j A_j dropout(h_j): A per segment, the weighted rows placed in their expert's
        // r-block of [T, E*r], one GEMM with the stacked B.
        Tensor hd = lora.Dropout > 0 ? nn.functional.dropout(h, lora.Dropout, training) : h;
        Tensor downA = DownASegments(hd, counts, down_proj.Experts) * (pairWeight * s); // [P, r]
        Tensor blocks = zeros(t * e, r, dtype: ScalarType.Float32, device: h.device).index_add(0, pairRow, downA, 1.0).view(t, e * r);
        y = y + nn.functional.linear(blocks, down_proj.StackedB());
        return y.to(x.dtype).view(b, l, d);
    }

    /// <summary>Per expert segment of <paramref name="pairA"/> [P, 2r] (gate r | up r): the gate and up B GEMMs.</summary>
    private (Tensor Gate, Tensor Up) GateUpSegments(Tensor pairA, long[] counts, int r)
    {
        // split, not narrow: split's backward is one cat of the pieces' gradients, narrow's is a full-size zero tensor per piece.
        Tensor[] segments = pairA.split(counts, 0);
        var gates = new List<Tensor>(counts.Length);
        var ups = new List<Tensor>(counts.Length);
        for (int i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0) continue;
            Tensor[] gateUp = segments[i].split(r, 1);
            gates.Add(nn.functional.linear(gateUp[0], gate_proj.Experts[i].B));
            ups.Add(nn.functional.linear(gateUp[1], up_proj.Experts[i].B));
        }
        return gates.Count == 1 ? (gates[0], ups[0]) : (cat(gates, 0), cat(ups, 0));
    }

    /// <summary>Per expert segment of <paramref name="sorted"/> [P, in]: that expert's A GEMM; [P, r].</summary>
    private static Tensor DownASegments(Tensor sorted, long[] counts, ModuleList<LoraExpert> experts)
    {
        Tensor[] segments = sorted.split(counts, 0);     // split, not narrow (see GateUpSegments)
        var parts = new List<Tensor>(counts.Length);
        for (int i = 0; i < counts.Length; i++)
            if (counts[i] > 0) parts.Add(nn.functional.linear(segments[i], experts[i].A));
        return parts.Count == 1 ? parts[0] : cat(parts, 0);
    }
}

/// <summary>How a layer runs its experts' LoRA (issue #5 measured all three).</summary>
public enum ExpertExecution
{
    /// <summary>The measured default: fused on the CPU for layers big enough to pay, dense-masked otherwise (<see cref="MoeFeedForward.Resolve"/>).</summary>
    Auto = 0,
    /// <summary>Pairs sorted by expert, each expert on its segment; one host read of the segment sizes per forward.</summary>
    Grouped = 1,
    /// <summary>All experts' A stacked, unchosen r-blocks zeroed, one GEMM with the stacked B; no host synchronisation.</summary>
    DenseMasked = 2,
    /// <summary>Grouped, as one autograd function that keeps the frozen gate/up outputs and rank-wide activations and
    /// recomputes the I-wide ones in backward (<see cref="FusedExpertFeedForward"/>).</summary>
    Fused = 3,
}
