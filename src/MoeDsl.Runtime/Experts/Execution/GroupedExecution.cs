using System.Collections.Generic;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts.Execution;

/// <summary>MixLoRA's FFN with the experts' LoRA grouped by expert (<see cref="ExpertExecution.Grouped"/>).</summary>
internal static class GroupedExecution
{
    /// <summary>Grouped: the (token, slot) pairs sorted by expert (stable), so that every GEMM whose width is the FFN's
    /// intermediate size runs at rank r, not E*r. The narrow GEMMs stay dense: all experts' gate and up A in one GEMM
    /// on the T tokens (<c>[T, 2*E*r]</c>), each pair's chosen r-blocks gathered; per expert one B GEMM for gate and
    /// one for up and one down-A GEMM on its contiguous segment; the weighted down-A rows scattered into
    /// <c>[T, E*r]</c> and one GEMM with the stacked down B. Reads the E segment sizes on the host once per forward.
    /// With dropout <paramref name="masks"/> (<see cref="MixLoraDropout"/>) every pair has its own gate and up input, so
    /// the gate and up A GEMMs run per expert segment on the masked pair rows instead.</summary>
    public static Tensor Forward(MoeFeedForward ffn, Tensor x, RoutingDecision decision, MixLoraDropout.Masks? masks)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        long t = b * l;
        long k = decision.Experts.shape[1];
        int e = ffn.ExpertCount, r = ffn.Lora.Rank;
        double s = ffn.Lora.Scaling;

        var (g0, u0, xf) = ffn.FrozenGateUpAndInput(x.reshape(t, d));                  // frozen, once: [T, I]

        var (sortedExpert, order) = decision.Experts.reshape(-1).sort(dim: 0, descending: false, stable: true); // pair p = token * k + slot
        Tensor pairToken = order.div(k, rounding_mode: RoundingMode.floor);             // [P] token of each sorted pair
        Tensor pairRow = pairToken * e + sortedExpert;                                   // [P] row (token, expert) of a [T*E, .] view
        Tensor pairWeight = decision.Weights.reshape(-1).index_select(0, order).unsqueeze(-1); // [P, 1]
        long[] counts = sortedExpert.bincount(null, e).cpu().data<long>().ToArray();    // the one host read

        Tensor pairA;                                                                   // [P, 2r], scaled here (rank-wide, not I-wide)
        if (masks is null)
        {
            // Gate and up A of every expert in one GEMM, laid out [T, E, (gate r | up r)]; each pair takes its expert's 2r.
            Tensor aGateUp = nn.functional.linear(xf, SharedExpertProjection.InterleavedA(ffn.GateProj, ffn.UpProj)); // [T, E*2r]
            pairA = aGateUp.view(t * e, 2 * r).index_select(0, pairRow) * s;
        }
        else
        {
            Tensor pairX = xf.index_select(0, pairToken);                                // [P, d]
            Tensor keep = masks.GateUp.index_select(0, order);                           // [P, 2, d]
            Tensor gateA = ASegments(MixLoraDropout.Apply(pairX, keep.select(1, 0), ffn.Lora.Dropout), counts, ffn.GateProj);
            Tensor upA = ASegments(MixLoraDropout.Apply(pairX, keep.select(1, 1), ffn.Lora.Dropout), counts, ffn.UpProj);
            pairA = cat(new[] { gateA, upA }, 1) * s;
        }
        var (gateDelta, upDelta) = GateUpSegments(ffn, pairA, counts, r);                     // [P, I] each
        // In place on the fresh GEMM outputs (cat or linear; neither saves its output for backward): no extra [P, I] tensors.
        Tensor gate = gateDelta.add_(g0.index_select(0, pairToken));                    // [P, I]
        Tensor up = upDelta.add_(u0.index_select(0, pairToken));
        Tensor h = ffn.Gated(gate, up);                                       // [P, I]

        // Frozen W_down once, on sum_j w_j h_j.
        Tensor mixed = zeros(t, h.shape[1], dtype: ScalarType.Float32, device: h.device).index_add(0, pairToken, h * pairWeight, 1.0);
        Tensor y = ffn.DownProj.forward(mixed.to(x.dtype)).to(ScalarType.Float32);
        // Experts' down-LoRA: sum_j w_j B_j A_j dropout(h_j): A per segment, the weighted rows placed in their expert's
        // r-block of [T, E*r], one GEMM with the stacked B.
        Tensor hd = masks is null ? h : MixLoraDropout.Apply(h, masks.Hidden.index_select(0, order), ffn.Lora.Dropout);
        Tensor downA = ASegments(hd, counts, ffn.DownProj) * (pairWeight * s);  // [P, r]
        Tensor blocks = zeros(t * e, r, dtype: ScalarType.Float32, device: h.device).index_add(0, pairRow, downA, 1.0).view(t, e * r);
        y = y + nn.functional.linear(blocks, ffn.DownProj.Experts.StackedB());
        return y.to(x.dtype).view(b, l, d);
    }

    /// <summary>Per expert segment of <paramref name="pairA"/> [P, 2r] (gate r | up r): the gate and up B GEMMs.</summary>
    private static (Tensor Gate, Tensor Up) GateUpSegments(MoeFeedForward ffn, Tensor pairA, long[] counts, int r)
    {
        // split, not narrow: split's backward is one cat of the pieces' gradients, narrow's is a full-size zero tensor per piece.
        Tensor[] segments = pairA.split(counts, 0);
        var gates = new List<Tensor>(counts.Length);
        var ups = new List<Tensor>(counts.Length);
        for (int i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0) continue;
            Tensor[] gateUp = segments[i].split(r, 1);
            gates.Add(nn.functional.linear(gateUp[0], ffn.GateProj.Experts.ExpertB(i)));
            ups.Add(nn.functional.linear(gateUp[1], ffn.UpProj.Experts.ExpertB(i)));
        }
        return gates.Count == 1 ? (gates[0], ups[0]) : (cat(gates, 0), cat(ups, 0));
    }

    /// <summary>Per expert segment of <paramref name="sorted"/> [P, in]: that expert's A GEMM; [P, r].</summary>
    private static Tensor ASegments(Tensor sorted, long[] counts, SharedExpertProjection projection)
    {
        Tensor[] segments = sorted.split(counts, 0);     // split, not narrow (see GateUpSegments)
        var parts = new List<Tensor>(counts.Length);
        for (int i = 0; i < counts.Length; i++)
            if (counts[i] > 0) parts.Add(nn.functional.linear(segments[i], projection.Experts.ExpertA(i)));
        return parts.Count == 1 ? parts[0] : cat(parts, 0);
    }
}
