using System;
using System.Collections.Generic;
using MoeDsl.Runtime.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts.Execution;

/// <summary>Shape and training settings of one <see cref="FusedExpertFeedForward"/> call.</summary>
/// <param name="Experts">E.</param>
/// <param name="Rank">r of every expert.</param>
/// <param name="Scaling">LoRA scaling alpha / r.</param>
/// <param name="Dropout">LoRA dropout probability (applied when <paramref name="Training"/>).</param>
/// <param name="Training">Whether dropout masks are drawn.</param>
/// <param name="CpuKernels">Use <see cref="ExpertKernels"/> for the element-wise work when the tensors are fp32 on the CPU
/// (default); false runs the same math as TorchSharp ops (the path every other device takes).</param>
public sealed record FusedExpertSettings(int Experts, int Rank, double Scaling, double Dropout, bool Training, bool CpuKernels = true)
{
    /// <summary>Whether this call draws dropout masks.</summary>
    public bool DrawsMasks => Training && Dropout > 0;
}

/// <summary>MixLoRA's whole FFN as one autograd function with a hand-written backward that recomputes instead of
/// storing. Forward, for the P = T k (token, slot) pairs sorted by expert:
/// <code>
/// g0 = W_g x, u0 = W_u x                                  frozen, once for all tokens   [T, I]
/// gate_p = g0[t_p] + s A_g[e_p] x~ B_g[e_p]^T, up_p alike  rank-r GEMM per expert segment [P, I]
/// h_p = silu(gate_p) * up_p
/// y_t = W_d (sum_p w_p h_p) + s sum_p w_p B_d[e_p] A_d[e_p] h~_p
/// </code>
/// (x~, h~: LoRA dropout, one keep-mask per pair and projection as MoE-PEFT draws them: <see cref="MixLoraDropout"/>). Autograd would keep about six [P, I] tensors per layer for backward (gate, up, silu, h,
/// the dropout mask and output); this function keeps the two frozen [T, I] outputs, the rank-wide pair activations
/// and the dropout masks as booleans, and recomputes gate, up and h from them in backward (two rank-r GEMMs and two
/// gathers, small next to the frozen GEMMs). Gradients: x, every expert's A and B, and the routing weights; the frozen
/// weights get none. Runs on any device; reads the E segment sizes on the host once per forward. With the CPU kernels
/// (<see cref="ExpertKernels"/>) every per-pair product whose output is rank-wide or a pair's own row (A x~, A_d h~ and
/// their gradients, d gate B_g, d up B_u) runs inside the element-wise passes, and the experts' weight gradients (sums
/// of outer products over a segment's pairs) in one call each (<see cref="ExpertKernels.SegmentOuterSums"/>): no
/// per-expert op calls on that path.</summary>
public sealed class FusedExpertFeedForward : autograd.SingleTensorFunction<FusedExpertFeedForward>
{
    /// <inheritdoc />
    public override string Name => "MoeDsl.FusedExpertFeedForward";

    /// <summary>Runs the FFN on <paramref name="x"/> [T, d]; returns [T, d] in x's dtype.</summary>
    /// <param name="x">[T, d] input (any float dtype; LoRA math in fp32).</param>
    /// <param name="gateWeight">Frozen W_g [I, d].</param>
    /// <param name="upWeight">Frozen W_u [I, d].</param>
    /// <param name="downWeight">Frozen W_d [d, I].</param>
    /// <param name="gateUpA">[E*2r, d]: for each expert its gate A then its up A (<c>SharedExpertProjection.InterleavedA</c>).</param>
    /// <param name="gateB">[E, I, r]: each expert's gate B (the stacked <c>lora_B</c> of <c>StackedLoraExperts</c>; the
    /// kernels' [E*r, I] layout is made inside, <see cref="BlockLayouts"/>, so the gradient comes back in this one).</param>
    /// <param name="upB">[E, I, r]: each expert's up B.</param>
    /// <param name="downA">[E*r, I]: each expert's down A, stacked.</param>
    /// <param name="downB">[E, d, r]: each expert's down B.</param>
    /// <param name="weights">[T, k] fp32 combine weight of each slot.</param>
    /// <param name="experts">[T, k] int64 expert of each slot.</param>
    /// <param name="settings">E, r, scaling, dropout.</param>
    /// <param name="inputMask">Optional [T*k, 2, d] bool keep-masks of each pair's gate (0) and up (1) LoRA input, pairs in
    /// token-major order (<see cref="MixLoraDropout"/>); both masks are drawn when this is null and dropout is on.</param>
    /// <param name="hiddenMask">[T*k, I] bool keep-mask of each pair's down LoRA input, token-major; given together with
    /// <paramref name="inputMask"/>.</param>
    public static Tensor Apply(Tensor x, Tensor gateWeight, Tensor upWeight, Tensor downWeight, Tensor gateUpA, Tensor gateB, Tensor upB,
        Tensor downA, Tensor downB, Tensor weights, Tensor experts, FusedExpertSettings settings, Tensor? inputMask = null, Tensor? hiddenMask = null)
        => apply(x, gateWeight, upWeight, downWeight, gateUpA.contiguous(), gateB.contiguous(), upB.contiguous(), downA.contiguous(), downB.contiguous(),
            weights, experts, inputMask!, hiddenMask!, settings);

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor x = (Tensor)vars[0], gateWeight = (Tensor)vars[1], upWeight = (Tensor)vars[2], downWeight = (Tensor)vars[3];
        Tensor gateUpA = (Tensor)vars[4], gateB = (Tensor)vars[5], upB = (Tensor)vars[6], downA = (Tensor)vars[7], downBBlocks = (Tensor)vars[8];
        Tensor weights = (Tensor)vars[9], experts = (Tensor)vars[10];
        Tensor? givenInputMask = vars[11] as Tensor, givenHiddenMask = vars[12] as Tensor;
        var settings = (FusedExpertSettings)vars[13];

        using var scope = NewDisposeScope();
        long t = x.shape[0], d = x.shape[1], k = experts.shape[1];
        int e = settings.Experts, r = settings.Rank;
        double s = settings.Scaling;
        // The kernels' layouts: B^T rows per rank [E*r, I], the down B's side by side [d, E*r].
        Tensor gateBt = BlockLayouts.TransposeBlocks(gateB).view(e * r, -1), upBt = BlockLayouts.TransposeBlocks(upB).view(e * r, -1);
        Tensor downB = BlockLayouts.SwapLeading(downBBlocks).view(d, e * r);

        Tensor g0 = Frozen(x, gateWeight);                                               // [T, I]
        Tensor u0 = Frozen(x, upWeight);
        long inter = g0.shape[1];
        MixLoraDropout.Masks? drawn = givenInputMask is null && settings.DrawsMasks
            ? MixLoraDropout.Draw(t, k, d, gateWeight.shape[0], settings.Dropout, x.device) : null;
        Tensor? tokenMajorInputMask = givenInputMask ?? drawn?.GateUp, tokenMajorHiddenMask = givenHiddenMask ?? drawn?.Hidden;
        Tensor xf = x.to(ScalarType.Float32);

        // Pairs p = token * k + slot, sorted (stably) by expert; pairAt: the sorted position of pair (token, slot), each
        // token's k rows for the race-free gather-sums (kernels only).
        bool kernels = settings.CpuKernels && ExpertKernels.Supports(x) && ExpertKernels.Supports(gateBt);
        var (order, pairToken, pairRow, sortedAt, counts) = x.device_type == DeviceType.CPU ? SortPairsOnHost(experts, e) : SortPairs(experts, e);
        Tensor? pairAt = kernels ? sortedAt : null;
        Tensor slotWeight = weights.reshape(-1).to(ScalarType.Float32).contiguous();    // [T*k], token-major
        Tensor pairWeight = slotWeight.index_select(0, order);

        // Each pair's gate and up A activations on its expert (P d 2r multiply-adds: one [T, E*2r] GEMM over all tokens
        // would do E/k times that, the unchosen experts' blocks included, and could not apply each pair's own dropout).
        Tensor? pairMask = tokenMajorInputMask?.index_select(0, order);                   // [P, 2, d], sorted like the pairs
        Tensor? hiddenMask = tokenMajorHiddenMask?.index_select(0, order);               // [P, I]
        float keepScale = (float)(1.0 / (1.0 - settings.Dropout));
        Tensor pairA, h, pairDownA;                                                     // [P, 2r] (scaled), [P, I], A_d[e_p] h~_p [P, r]
        if (kernels)
        {
            pairA = empty(order.shape[0], 2 * r, device: x.device);
            ExpertKernels.PairInputActivations(xf.contiguous(), pairToken, pairRow, e, pairMask, keepScale, gateUpA, r, (float)s, pairA);
            h = empty(pairA.shape[0], inter, device: x.device);
            pairDownA = empty(pairA.shape[0], r, device: x.device);
            ExpertKernels.SwiGluFromFrozen(g0, u0, pairToken, pairRow, e, pairA, gateBt, upBt, r, h, downA, hiddenMask, keepScale, pairDownA);
        }
        else
        {
            pairA = PairActivations(xf, pairToken, gateUpA, counts, r, pairMask, settings.Dropout).mul_(s);
            var (gate, up) = PreActivations(g0, u0, pairA, gateBt, upBt, pairToken, counts, r);
            h = nn.functional.silu(gate, inplace: true).mul_(up);                        // in gate's buffer
            up.Dispose();
            pairDownA = empty(pairA.shape[0], r, device: x.device);
            Tensor hd = hiddenMask is null ? h : MixLoraDropout.Apply(h, hiddenMask, settings.Dropout);
            ForEachSegment(counts, (i, o, c) => pairDownA.narrow(0, o, c).addmm_(hd.narrow(0, o, c), downA.narrow(0, i * r, r).t(), beta: 0));
            if (!ReferenceEquals(hd, h)) hd.Dispose();
        }

        // Frozen W_d once, on sum_p w_p h_p; the experts' down LoRA as one GEMM on their weighted r-blocks.
        Tensor mixed = kernels
            ? Fill(empty(t, inter, device: x.device), o => ExpertKernels.GatherSum(h, pairAt!, slotWeight, (int)k, o))
            : zeros(t, inter, device: x.device).index_add_(0, pairToken, h.mul_(pairWeight.unsqueeze(1)), 1.0);
        h.Dispose();
        Tensor y = Frozen(mixed, downWeight);
        mixed.Dispose();
        Tensor blocks = zeros(t * e, r, device: x.device).index_add_(0, pairRow, pairDownA * (pairWeight * s).unsqueeze(1), 1.0).view(t, e * r);
        if (WideGemm.Covers(blocks, downB)) y.add_(WideGemm.Linear(blocks, downB));
        else y.addmm_(blocks, downB.t());

        var saved = new List<Tensor>
        {
            x, gateWeight, upWeight, downWeight, gateUpA, gateBt, upBt, downA, downB, weights,
            g0, u0, pairA, pairDownA, pairToken, pairRow, pairWeight, order, pairMask!, hiddenMask!, pairAt!, blocks,
        };
        ctx.save_for_backward(saved);
        ctx.save_data("counts", counts);
        ctx.save_data("settings", settings);
        // The saved intermediates must outlive this scope until apply has registered them with the graph.
        foreach (Tensor? keep in new[] { gateBt, upBt, downB, g0, u0, pairA, pairDownA, pairToken, pairRow, pairWeight, order, pairMask, hiddenMask, pairAt, blocks })
            keep?.MoveToOuterDisposeScope();
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        using var scope = NewDisposeScope();
        List<Tensor> sv = ctx.get_saved_variables();
        Tensor x = sv[0], gateWeight = sv[1], upWeight = sv[2], downWeight = sv[3], gateUpA = sv[4], gateBt = sv[5], upBt = sv[6];
        Tensor downA = sv[7], downB = sv[8], weights = sv[9];
        Tensor g0 = sv[10], u0 = sv[11], pairA = sv[12], pairDownA = sv[13], pairToken = sv[14], pairRow = sv[15], pairWeight = sv[16], order = sv[17];
        Tensor? pairMask = sv[18], hiddenMask = sv[19], pairAt = sv[20];
        Tensor blocks = sv[21];
        var counts = (long[])ctx.get_data("counts");
        var settings = (FusedExpertSettings)ctx.get_data("settings");
        long t = x.shape[0], k = weights.shape[1], p = pairA.shape[0], inter = g0.shape[1];
        int e = settings.Experts, r = settings.Rank;
        double s = settings.Scaling, keepScale = 1.0 / (1.0 - settings.Dropout);

        Tensor dy = grad_output.to(ScalarType.Float32);                                   // [T, d]
        bool kernels = pairAt is not null;                                               // the forward's choice (pairAt exists only then)

        // Down LoRA: y += blocks B_d^T with blocks = index_add(s w_p A_d[e_p] h~_p) ([T, E*r], kept from the forward).
        bool wide = WideGemm.CoversInputGradient(dy, downB);
        Tensor pairDy = (wide ? WideGemm.InputGradient(dy, downB) : dy.mm(downB)).view(t * e, r).index_select(0, pairRow); // dy_t B_d[e_p]  [P, r]
        Tensor weightS = (pairWeight * s).unsqueeze(1);
        Tensor gradDownB = wide ? WideGemm.WeightGradient(dy, blocks) : dy.t().mm(blocks); // [d, E*r]
        Tensor gradPairDownA = pairDy * weightS;                                         // dL/d(A_d h~)  [P, r]
        Tensor gradWeight = (pairDownA * pairDy).sum(1).mul_(s);                         // [P], the down-LoRA part

        var (gradGate, gradUp, gradDownA, gradX, kernelGradPairA) = kernels
            ? SwiGluBackwardKernels(dy, downWeight, gateWeight, upWeight, g0, u0, pairA, gateBt, upBt, downA, pairToken, pairRow, pairWeight, pairAt!, hiddenMask, gradPairDownA, gradWeight, counts, e, r, (int)k, (float)keepScale)
            : SwiGluBackwardOps(dy, downWeight, gateWeight, upWeight, g0, u0, pairA, gateBt, upBt, downA, pairToken, pairWeight, hiddenMask, gradPairDownA, gradWeight, counts, e, r, keepScale);

        // Experts' gate and up B, and the gradient of the pairs' rank-wide A activations (the kernels computed that one).
        Tensor gradPairA = kernelGradPairA ?? empty(p, 2 * r, device: dy.device);
        Tensor gradGateBt = empty(e * r, inter, device: dy.device), gradUpBt = empty(e * r, inter, device: dy.device);
        if (kernels)
        {
            ExpertKernels.SegmentOuterSums(pairA, 0, r, gradGate, counts, gradGateBt, r, 0);
            ExpertKernels.SegmentOuterSums(pairA, r, r, gradUp, counts, gradUpBt, r, 0);
        }
        else
            ForEachSegment(counts, (i, o, c) =>
            {
                Tensor gg = gradGate.narrow(0, o, c), gu = gradUp.narrow(0, o, c);
                Tensor pa = pairA.narrow(0, o, c), ga = gradPairA.narrow(0, o, c);
                ga.narrow(1, 0, r).addmm_(gg, gateBt.narrow(0, i * r, r).t(), beta: 0);
                ga.narrow(1, r, r).addmm_(gu, upBt.narrow(0, i * r, r).t(), beta: 0);
                gradGateBt.narrow(0, i * r, r).addmm_(pa.narrow(1, 0, r).t(), gg, beta: 0);
                gradUpBt.narrow(0, i * r, r).addmm_(pa.narrow(1, r, r).t(), gu, beta: 0);
            }, (i) => { gradGateBt.narrow(0, i * r, r).zero_(); gradUpBt.narrow(0, i * r, r).zero_(); });
        gradGate.Dispose();
        gradUp.Dispose();

        // Back through the pairs' A activations: the experts' A gradients, one GEMM per expert segment on the pairs' inputs
        // (masked: each pair's own gate and up dropout), and the input gradient, a sum over each token's pairs.
        gradPairA.mul_(s);
        long d = x.shape[1];
        Tensor xf = x.to(ScalarType.Float32).contiguous();
        Tensor gateX, upX;                                                               // [P, d], the same tensor without dropout
        if (pairMask is null) gateX = upX = xf.index_select(0, pairToken);
        else if (kernels)
        {
            gateX = empty(p, d, device: dy.device);
            upX = empty(p, d, device: dy.device);
            ExpertKernels.PairInputs(xf, pairToken, pairMask, (float)keepScale, gateX, upX);
        }
        else
            using (Tensor pairX = xf.index_select(0, pairToken))
            {
                gateX = MixLoraDropout.Apply(pairX, pairMask.select(1, 0), settings.Dropout);
                upX = MixLoraDropout.Apply(pairX, pairMask.select(1, 1), settings.Dropout);
            }
        Tensor gradGateUpA = empty(e * 2 * r, d, device: dy.device);
        if (kernels && pairMask is null) ExpertKernels.SegmentOuterSums(gradPairA, 0, 2 * r, gateX, counts, gradGateUpA, 2 * r, 0);
        else if (kernels)
        {
            ExpertKernels.SegmentOuterSums(gradPairA, 0, r, gateX, counts, gradGateUpA, 2 * r, 0);
            ExpertKernels.SegmentOuterSums(gradPairA, r, r, upX, counts, gradGateUpA, 2 * r, r);
        }
        else ForEachSegment(counts, (i, o, c) =>
        {
            Tensor ga = gradPairA.narrow(0, o, c);
            if (pairMask is null)
                gradGateUpA.narrow(0, i * 2 * r, 2 * r).addmm_(ga.t(), gateX.narrow(0, o, c), beta: 0);
            else
            {
                gradGateUpA.narrow(0, i * 2 * r, r).addmm_(ga.narrow(1, 0, r).t(), gateX.narrow(0, o, c), beta: 0);
                gradGateUpA.narrow(0, i * 2 * r + r, r).addmm_(ga.narrow(1, r, r).t(), upX.narrow(0, o, c), beta: 0);
            }
        }, (i) => gradGateUpA.narrow(0, i * 2 * r, 2 * r).zero_());
        gateX.Dispose();
        if (!ReferenceEquals(upX, gateX)) upX.Dispose();
        if (kernels) ExpertKernels.PairInputGradient(gradPairA, pairAt!, pairRow, e, gateUpA, r, pairMask, (float)keepScale, (int)k, gradX);
        else gradX.add_(PairInputGradientOps(gradPairA, pairToken, gateUpA, counts, r, t, d, pairMask, keepScale));

        // Routing weights, back to the [T, k] layout.
        Tensor gradWeights = zeros(t * k, device: dy.device).index_copy_(0, order, gradWeight).view(t, k).to(weights.dtype);

        var grads = new List<Tensor>
        {
            gradX.to(x.dtype), null!, null!, null!, gradGateUpA, BlockLayouts.TransposeBlocks(gradGateBt.view(e, r, inter)),
            BlockLayouts.TransposeBlocks(gradUpBt.view(e, r, inter)), gradDownA, BlockLayouts.SwapLeading(gradDownB.view(-1, e, r)), gradWeights, null!, null!, null!, null!,
        };
        foreach (Tensor? g in grads) g?.MoveToOuterDisposeScope();
        return grads;
    }

    /// <summary>The (token, slot) pairs of <paramref name="experts"/> [T, k] sorted stably by expert: the token-major pair
    /// index of each sorted position (order), its token, its row <c>token E + expert</c> of a [T*E, .] view, the sorted
    /// position of each token-major pair, and the E segment sizes (the one host read).</summary>
    internal static (Tensor Order, Tensor Token, Tensor Row, Tensor At, long[] Counts) SortPairs(Tensor experts, int e)
    {
        long k = experts.shape[1];
        var (sortedExpert, order) = experts.reshape(-1).sort(dim: 0, descending: false, stable: true);
        Tensor token = order.div(k, rounding_mode: RoundingMode.floor);
        Tensor row = token * e + sortedExpert;
        long[] counts = sortedExpert.bincount(null, e).cpu().data<long>().ToArray();
        Tensor at = empty_like(order).index_copy_(0, order, arange(order.shape[0], dtype: ScalarType.Int64, device: experts.device));
        return (order, token, row, at, counts);
    }

    /// <summary><see cref="SortPairs"/> for CPU tensors as a counting sort on the host (stable by construction): the same
    /// five results from one read of the P expert ids instead of about ten small tensor ops. The ids are read and the
    /// results written through the tensors' memory (TorchSharp's array conversions cost 20-45 us each at P = 512, most of
    /// this function's time when they were used).</summary>
    internal static unsafe (Tensor Order, Tensor Token, Tensor Row, Tensor At, long[] Counts) SortPairsOnHost(Tensor experts, int e)
    {
        long k = experts.shape[1];
        Tensor flat = experts.reshape(-1).to(ScalarType.Int64).contiguous();
        long n = flat.shape[0];
        long* ids = ExpertKernels.Data<long>(flat);
        var counts = new long[e];
        for (long q = 0; q < n; q++)
        {
            long id = ids[q];
            if (id < 0 || id >= e) throw new ArgumentException($"FusedExpertFeedForward: expert id {id} is outside [0, {e}); the router and the layer disagree on the expert count");
            counts[id]++;
        }
        var next = new long[e];
        for (int i = 1; i < e; i++) next[i] = next[i - 1] + counts[i - 1];
        Tensor order = empty(n, dtype: ScalarType.Int64), token = empty(n, dtype: ScalarType.Int64);
        Tensor row = empty(n, dtype: ScalarType.Int64), at = empty(n, dtype: ScalarType.Int64);
        long* o = ExpertKernels.Data<long>(order), tk = ExpertKernels.Data<long>(token), rw = ExpertKernels.Data<long>(row), a = ExpertKernels.Data<long>(at);
        for (long q = 0; q < n; q++)
        {
            long id = ids[q], position = next[id]++;
            o[position] = q;
            tk[position] = q / k;
            rw[position] = q / k * e + id;
            a[q] = position;
        }
        GC.KeepAlive(flat);
        return (order, token, row, at, counts);
    }

    /// <summary>Recomputes gate, up and h and runs the SwiGLU, down-LoRA-input and frozen gate/up backward with
    /// TorchSharp ops. Returns d gate, d up [P, I], the experts' down A gradient [E*r, I] and the input gradient through
    /// the frozen gate/up [T, d]; adds the routing weights' W_d part to <paramref name="gradWeight"/>.</summary>
    private static (Tensor GradGate, Tensor GradUp, Tensor GradDownA, Tensor GradX, Tensor? GradPairA) SwiGluBackwardOps(Tensor dy, Tensor downWeight, Tensor gateWeight, Tensor upWeight,
        Tensor g0, Tensor u0, Tensor pairA, Tensor gateBt, Tensor upBt, Tensor downA, Tensor pairToken, Tensor pairWeight, Tensor? hiddenMask,
        Tensor gradPairDownA, Tensor gradWeight, long[] counts, int e, int r, double keepScale)
    {
        long t = dy.shape[0], p = pairA.shape[0], inter = g0.shape[1];
        // Recompute gate, up, h.
        Tensor pairDMixed;
        using (Tensor dMixed = FrozenInputGradient(dy, downWeight)) pairDMixed = dMixed.index_select(0, pairToken); // [P, I]
        var (gate, up) = PreActivations(g0, u0, pairA, gateBt, upBt, pairToken, counts, r);
        Tensor sig = gate.sigmoid();
        Tensor silu = gate * sig;
        Tensor gradDownA = empty(e * r, inter, device: dy.device);
        using (Tensor h = silu * up)
        {
            using (Tensor prod = pairDMixed * h) gradWeight.add_(prod.sum(1));        // the W_d sum_p w_p h_p part
            if (hiddenMask is not null) h.mul_(hiddenMask).mul_(keepScale);              // h~
            ForEachSegment(counts, (i, o, c) => gradDownA.narrow(0, i * r, r).addmm_(gradPairDownA.narrow(0, o, c).t(), h.narrow(0, o, c), beta: 0), (i) => gradDownA.narrow(0, i * r, r).zero_());
        }

        // dL/dh_p = w_p dMixed_t + (dL/d(A_d h~)) A_d[e_p] masked.
        Tensor gradH = pairDMixed.mul_(pairWeight.unsqueeze(1));
        if (hiddenMask is null)
            ForEachSegment(counts, (i, o, c) => gradH.narrow(0, o, c).addmm_(gradPairDownA.narrow(0, o, c), downA.narrow(0, i * r, r)));
        else
            using (Tensor viaLora = empty(p, inter, device: dy.device))
            {
                ForEachSegment(counts, (i, o, c) => viaLora.narrow(0, o, c).addmm_(gradPairDownA.narrow(0, o, c), downA.narrow(0, i * r, r), beta: 0));
                gradH.add_(viaLora.mul_(hiddenMask).mul_(keepScale));
            }

        // SwiGLU: d up = dh silu(gate); d gate = dh up silu'(gate), silu'(z) = sig (1 + z - silu(z)).
        Tensor gradGate = gate.sub_(silu).add_(1.0).mul_(sig).mul_(up).mul_(gradH);
        Tensor gradUp = silu.mul_(gradH);
        sig.Dispose();
        up.Dispose();
        gradH.Dispose();

        // Frozen gate/up: their input gradient.
        Tensor gradX;
        using (Tensor gradG0 = zeros(t, inter, device: dy.device).index_add_(0, pairToken, gradGate, 1.0))
            gradX = FrozenInputGradient(gradG0, gateWeight);
        using (Tensor gradU0 = zeros(t, inter, device: dy.device).index_add_(0, pairToken, gradUp, 1.0))
            gradX.add_(FrozenInputGradient(gradU0, upWeight));

        return (gradGate, gradUp, gradDownA, gradX, null);
    }

    /// <summary><see cref="SwiGluBackwardOps"/> with <see cref="ExpertKernels"/>: the pre-activations recomputed inside one
    /// fused pass for the SwiGLU backward, race-free gather-sums instead of the index_add scatters.</summary>
    private static (Tensor GradGate, Tensor GradUp, Tensor GradDownA, Tensor GradX, Tensor? GradPairA) SwiGluBackwardKernels(Tensor dy, Tensor downWeight, Tensor gateWeight, Tensor upWeight,
        Tensor g0, Tensor u0, Tensor pairA, Tensor gateBt, Tensor upBt, Tensor downA, Tensor pairToken, Tensor pairRow, Tensor pairWeight, Tensor pairAt, Tensor? hiddenMask,
        Tensor gradPairDownA, Tensor gradWeight, long[] counts, int e, int r, int k, float keepScale)
    {
        long t = dy.shape[0], p = pairA.shape[0], inter = g0.shape[1];
        Tensor gradGate = empty(p, inter, device: dy.device), gradUp = empty(p, inter, device: dy.device);
        using (Tensor dMixed = FrozenInputGradient(dy, downWeight))                     // [T, I], read per pair by the kernel
        using (Tensor hidden = empty(p, inter, device: dy.device))                       // h~
        using (Tensor weightViaMixed = empty(p, device: dy.device))
        {
            Tensor gradPairA = empty(p, 2 * r, device: dy.device);
            ExpertKernels.SwiGluBackwardFromFrozen(g0, u0, pairToken, pairRow, e, pairA, gateBt, upBt, r, dMixed, pairWeight, gradPairDownA, downA,
                hiddenMask, keepScale, gradGate, gradUp, hidden, weightViaMixed, gradPairA);
            gradWeight.add_(weightViaMixed);
            Tensor gradDownA = empty(e * r, inter, device: dy.device);
            ExpertKernels.SegmentOuterSums(gradPairDownA, 0, r, hidden, counts, gradDownA, r, 0);
            Tensor gradX;
            using (Tensor gradG0 = empty(t, inter, device: dy.device))
            {
                ExpertKernels.GatherSum(gradGate, pairAt, null, k, gradG0);
                gradX = FrozenInputGradient(gradG0, gateWeight);
                ExpertKernels.GatherSum(gradUp, pairAt, null, k, gradG0);
                gradX.add_(FrozenInputGradient(gradG0, upWeight));
            }
            return (gradGate, gradUp, gradDownA, gradX, gradPairA);
        }
    }

    /// <summary>The input gradient through the pairs' A activations with TorchSharp ops: each pair's
    /// <c>gradPairA A[e_p]</c> (per expert segment; the gate and up halves masked by the pair's own dropout), summed per
    /// token by index_add. Returns [T, d].</summary>
    private static Tensor PairInputGradientOps(Tensor gradPairA, Tensor pairToken, Tensor gateUpA, long[] counts, int r, long t, long d, Tensor? pairMask, double keepScale)
    {
        long p = gradPairA.shape[0];
        using Tensor gradPairX = empty(p, d, device: gradPairA.device);
        if (pairMask is null)
            ForEachSegment(counts, (i, o, c) => gradPairX.narrow(0, o, c).addmm_(gradPairA.narrow(0, o, c), gateUpA.narrow(0, i * 2 * r, 2 * r), beta: 0));
        else
        {
            using Tensor gradUpX = empty(p, d, device: gradPairA.device);
            ForEachSegment(counts, (i, o, c) =>
            {
                Tensor ga = gradPairA.narrow(0, o, c);
                gradPairX.narrow(0, o, c).addmm_(ga.narrow(1, 0, r), gateUpA.narrow(0, i * 2 * r, r), beta: 0);
                gradUpX.narrow(0, o, c).addmm_(ga.narrow(1, r, r), gateUpA.narrow(0, i * 2 * r + r, r), beta: 0);
            });
            gradPairX.mul_(pairMask.select(1, 0)).add_(gradUpX.mul_(pairMask.select(1, 1))).mul_(keepScale);
        }
        return zeros(t, d, device: gradPairA.device).index_add_(0, pairToken, gradPairX, 1.0);
    }

    private static Tensor Fill(Tensor output, Action<Tensor> kernel)
    {
        kernel(output);
        return output;
    }

    /// <summary>The frozen projection's output in fp32: <c>x W^T</c> in W's dtype (bf16 on CUDA); fp32 on an AVX-512 CPU
    /// through <see cref="WideGemm"/>.</summary>
    private static Tensor Frozen(Tensor x, Tensor weight)
        => WideGemm.Covers(x, weight) ? WideGemm.Linear(x, weight) : nn.functional.linear(x.to(weight.dtype), weight).to(ScalarType.Float32);

    /// <summary>Input gradient of a frozen projection: <c>dy W</c> in W's dtype, returned in fp32.</summary>
    private static Tensor FrozenInputGradient(Tensor dy, Tensor weight)
        => WideGemm.CoversInputGradient(dy, weight) ? WideGemm.InputGradient(dy, weight) : dy.to(weight.dtype).mm(weight).to(ScalarType.Float32);

    /// <summary>[P, 2r]: row p is <c>A_gate[e_p] x~g_p</c> then <c>A_up[e_p] x~u_p</c> (unscaled), one GEMM per expert segment
    /// on the gathered input rows (both halves in one GEMM when there is no dropout, <paramref name="pairMask"/> null).</summary>
    private static Tensor PairActivations(Tensor xf, Tensor pairToken, Tensor gateUpA, long[] counts, int r, Tensor? pairMask, double dropout)
    {
        using Tensor pairX = xf.index_select(0, pairToken);                               // [P, d]
        Tensor pairA = empty(pairX.shape[0], 2 * r, device: xf.device);
        if (pairMask is null)
        {
            ForEachSegment(counts, (i, o, c) => pairA.narrow(0, o, c).addmm_(pairX.narrow(0, o, c), gateUpA.narrow(0, i * 2 * r, 2 * r).t(), beta: 0));
            return pairA;
        }
        using Tensor gateX = MixLoraDropout.Apply(pairX, pairMask.select(1, 0), dropout), upX = MixLoraDropout.Apply(pairX, pairMask.select(1, 1), dropout);
        ForEachSegment(counts, (i, o, c) =>
        {
            Tensor pa = pairA.narrow(0, o, c);
            pa.narrow(1, 0, r).addmm_(gateX.narrow(0, o, c), gateUpA.narrow(0, i * 2 * r, r).t(), beta: 0);
            pa.narrow(1, r, r).addmm_(upX.narrow(0, o, c), gateUpA.narrow(0, i * 2 * r + r, r).t(), beta: 0);
        });
        return pairA;
    }

    /// <summary>gate_p = g0[t_p] + pairA_p[:r] B_g[e_p]^T and up alike, one rank-r GEMM per expert segment, in place on the
    /// gathered frozen rows.</summary>
    private static (Tensor Gate, Tensor Up) PreActivations(Tensor g0, Tensor u0, Tensor pairA, Tensor gateBt, Tensor upBt, Tensor pairToken, long[] counts, int r)
    {
        Tensor gate = g0.index_select(0, pairToken);
        Tensor up = u0.index_select(0, pairToken);
        ForEachSegment(counts, (i, o, c) =>
        {
            Tensor pa = pairA.narrow(0, o, c);
            gate.narrow(0, o, c).addmm_(pa.narrow(1, 0, r), gateBt.narrow(0, i * r, r));
            up.narrow(0, o, c).addmm_(pa.narrow(1, r, r), upBt.narrow(0, i * r, r));
        });
        return (gate, up);
    }

    /// <summary>Calls <paramref name="body"/>(expert, offset, count) for every expert with pairs, <paramref name="empty"/>(expert) for the others.</summary>
    private static void ForEachSegment(long[] counts, Action<int, long, long> body, Action<int>? empty = null)
    {
        long offset = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (counts[i] > 0)
            {
                using var _ = NewDisposeScope();   // the narrow views
                body(i, offset, counts[i]);
            }
            else empty?.Invoke(i);
            offset += counts[i];
        }
    }
}
