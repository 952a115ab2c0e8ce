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
/// <c>sum_j w_j h_j</c> (it is linear), and every expert LoRA runs dense-masked (one GEMM over the stacked A's, one
/// over the stacked B's, per projection and slot group) with static shapes and no host synchronisation.
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

    /// <summary>How the experts' LoRA runs. <see cref="ExpertExecution.Auto"/> (default) is dense-masked: the issue #5
    /// quick benchmark (2 CPU cores, 256 tokens) measured dense-masked / grouped = 0.90, and it has no host
    /// synchronisation; <see cref="ExpertExecution.Grouped"/> stays selectable for larger token counts.</summary>
    public ExpertExecution Execution { get; set; } = ExpertExecution.Auto;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        RoutingDecision decision = moe_gate.forward(x);
        bool grouped = Execution == ExpertExecution.Grouped;
        Tensor y = grouped ? ForwardGrouped(x, decision) : ForwardDenseMasked(x, decision);
        recorder.Add(layer, "mlp", moe_gate, decision);
        return y.MoveToOuterDisposeScope();
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

    /// <summary>Grouped: the (token, slot) pairs sorted by expert, each expert's rank-r LoRA run on its contiguous
    /// segment (r, not E*r, inner dimension), results index-added back per token. Reads the E segment sizes on the host
    /// once per forward.</summary>
    private Tensor ForwardGrouped(Tensor x, RoutingDecision decision)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        long t = b * l;
        long k = decision.Experts.shape[1];
        int e = expertCount;
        double s = lora.Scaling;

        Tensor xt = x.reshape(t, d);
        Tensor g0 = gate_proj.forward(xt).to(ScalarType.Float32);                       // frozen, once: [T, I]
        Tensor u0 = up_proj.forward(xt).to(ScalarType.Float32);
        Tensor xd = lora.Dropout > 0 ? nn.functional.dropout(xt.to(ScalarType.Float32), lora.Dropout, training) : xt.to(ScalarType.Float32);

        Tensor pairExpert = decision.Experts.reshape(-1);                               // pair p = token * k + slot
        Tensor order = pairExpert.sort(dim: 0, descending: false, stable: true).Indices;
        Tensor pairToken = order.div(k, rounding_mode: RoundingMode.floor);             // [P] token of each sorted pair
        Tensor pairWeight = decision.Weights.reshape(-1).index_select(0, order).unsqueeze(-1); // [P, 1]
        long[] counts = pairExpert.bincount(null, e).cpu().data<long>().ToArray();      // the one host read

        Tensor xs = xd.index_select(0, pairToken);                                      // [P, d]
        Tensor gate = g0.index_select(0, pairToken) + Segments(xs, counts, gate_proj.Experts) * s; // [P, I]
        Tensor up = u0.index_select(0, pairToken) + Segments(xs, counts, up_proj.Experts) * s;
        Tensor h = nn.functional.silu(gate) * up;                                       // [P, I]

        // Frozen W_down once, on sum_j w_j h_j.
        Tensor mixed = zeros(t, h.shape[1], dtype: ScalarType.Float32, device: h.device).index_add(0, pairToken, h * pairWeight, 1.0);
        Tensor y = down_proj.forward(mixed.to(x.dtype)).to(ScalarType.Float32);
        // Experts' down-LoRA: sum_j w_j B_j A_j dropout(h_j), per segment, added back per token.
        Tensor hd = lora.Dropout > 0 ? nn.functional.dropout(h, lora.Dropout, training) : h;
        y = y.index_add(0, pairToken, Segments(hd, counts, down_proj.Experts) * (pairWeight * s), 1.0);
        return y.to(x.dtype).view(b, l, d);
    }

    /// <summary>Rows of <paramref name="sorted"/> grouped by expert (sizes <paramref name="counts"/>), each group through its
    /// expert's <c>B A</c>; the results concatenated in the same order.</summary>
    private static Tensor Segments(Tensor sorted, long[] counts, ModuleList<LoraExpert> experts)
    {
        var parts = new List<Tensor>(counts.Length);
        long start = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0) continue;
            Tensor segment = sorted.narrow(0, start, counts[i]);
            parts.Add(nn.functional.linear(nn.functional.linear(segment, experts[i].A), experts[i].B));
            start += counts[i];
        }
        return parts.Count == 1 ? parts[0] : cat(parts, 0);
    }
}

/// <summary>How a layer runs its experts' LoRA (issue #5 measured both).</summary>
public enum ExpertExecution
{
    /// <summary>The measured default: dense-masked.</summary>
    Auto = 0,
    /// <summary>Pairs sorted by expert, each expert on its segment; one host read of the segment sizes per forward.</summary>
    Grouped = 1,
    /// <summary>All experts' A stacked, unchosen r-blocks zeroed, one GEMM with the stacked B; no host synchronisation.</summary>
    DenseMasked = 2,
}
