using TorchSharp;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Experts.Execution;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts;

/// <summary>MixLoRA's FFN (FeedForward placement), fused:
/// <c>y = sum_{j in S} w_j E_j(x)</c> with <c>E_j(x) = (W_d + dD_j)[silu((W_g + dG_j) x) * ((W_u + dU_j) x)]</c>.
/// The frozen <c>W_g x</c> and <c>W_u x</c> are computed once for all tokens, the frozen <c>W_d</c> is applied once to
/// <c>sum_j w_j h_j</c> (it is linear); the experts' LoRA runs grouped (pairs sorted by expert, rank-r GEMMs per
/// segment) or dense-masked (stacked A's and B's, static shapes, no host synchronisation), see <see cref="Execution"/>.
/// Parameters: <c>moe_gate.*</c>, <c>{gate,up,down}_proj.weight</c> (frozen), <c>{gate,up,down}_proj.experts.lora_{A,B}</c> (each
/// projection's experts stacked, <see cref="Lora.StackedLoraExperts"/>); adapter-file keys
/// <c>{gate,up,down}_proj.experts.{e}.lora_{A,B}.weight</c>.</summary>
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

    /// <summary>A layer's FFN: <paramref name="experts"/> LoRA experts on each of the frozen gate, up and down projections,
    /// routed by <paramref name="router"/>, its decisions recorded for the losses under <paramref name="layer"/>.</summary>
    public MoeFeedForward(int hidden, int intermediate, int experts, LoraSettings lora, Router router, RoutingRecorder recorder, int layer,
        Activation activation = Activation.Silu)
        : base("mlp")
    {
        Activation = activation;
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
    /// <summary>Rank, alpha and dropout of every expert.</summary>
    public LoraSettings Lora => lora;
    /// <summary>The gate activation (the family's: silu, or Gemma's tanh GELU).</summary>
    public Activation Activation { get; }
    /// <summary>The experts' gated product <c>act(gate) * up</c>.</summary>
    internal Tensor Gated(Tensor gate, Tensor up) => Activations.Apply(Activation, gate) * up;
    /// <summary>Experts in the layer.</summary>
    public int ExpertCount => expertCount;

    /// <summary>What the dense-masked and grouped executions both start from, for the tokens <paramref name="xt"/> [T, d]:
    /// the frozen gate and up outputs, once for all tokens (fp32 [T, I]), and the tokens in fp32 (the experts' LoRA input
    /// before dropout, which is per pair: <see cref="MixLoraDropout"/>).</summary>
    internal (Tensor Gate, Tensor Up, Tensor Input) FrozenGateUpAndInput(Tensor xt)
    {
        Tensor gate = gate_proj.forward(xt).to(ScalarType.Float32);
        Tensor up = up_proj.forward(xt).to(ScalarType.Float32);
        return (gate, up, xt.to(ScalarType.Float32));
    }

    /// <summary>How the experts' LoRA runs. <see cref="ExpertExecution.Auto"/> (default) picks per forward, see
    /// <see cref="Resolve"/>.</summary>
    public ExpertExecution Execution { get; set; } = ExpertExecution.Auto;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        RoutingDecision decision = moe_gate.forward(x);
        ExpertExecution execution = Resolve(Execution, x.shape[0] * x.shape[1] * decision.Experts.shape[1], expertCount, lora.Rank, (int)gate_proj.OutFeatures, x.device_type);
        // The fused kernel's backward is written for SwiGLU; other activations run grouped.
        if (execution == ExpertExecution.Fused && Activation != Activation.Silu) execution = ExpertExecution.Grouped;
        // One keep-mask per (token, expert) pair and projection, drawn the same way whichever execution runs.
        MixLoraDropout.Masks? masks = training && lora.Dropout > 0
            ? MixLoraDropout.Draw(x.shape[0] * x.shape[1], decision.Experts.shape[1], x.shape[2], gate_proj.OutFeatures, lora.Dropout, x.device)
            : null;
        Tensor y = execution switch
        {
            ExpertExecution.Fused => ForwardFused(x, decision, masks),
            ExpertExecution.Grouped => GroupedExecution.Forward(this, x, decision, masks),
            _ => DenseMaskedExecution.Forward(this, x, decision, masks),
        };
        recorder.Add(layer, "mlp", moe_gate, decision);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The execution a forward of <paramref name="pairs"/> (token, slot) pairs runs. <see cref="ExpertExecution.Auto"/>:
    /// fused on the CPU once the FLOPs dense-masked would spend on the unchosen experts' blocks (three I-wide GEMMs of inner
    /// dimension E*r instead of r, forward and backward: <c>6 P (E-1) r I</c>) reach 1.5e8 (a few milliseconds of fp32
    /// GEMM, about twice what the per-expert op calls cost); dense-masked below that and on CUDA, where the segment
    /// sizes' one host read would stall the stream (not measured on CUDA). The benchmark's quick shape
    /// (256 tokens, top-2, 8 experts, r=16, I=1408): 4.8e8, fused; the tests' toy layers: dense-masked.</summary>
    public static ExpertExecution Resolve(ExpertExecution execution, long pairs, int experts, int rank, int intermediate, DeviceType device) => execution switch
    {
        ExpertExecution.Auto => device == DeviceType.CPU && 6.0 * pairs * (experts - 1) * rank * intermediate >= 1.5e8
            ? ExpertExecution.Fused : ExpertExecution.DenseMasked,
        _ => execution,
    };

    /// <summary>Fused: the whole FFN as one autograd function that recomputes gate, up and h in backward instead of
    /// keeping them (<see cref="FusedExpertFeedForward"/>).</summary>
    private Tensor ForwardFused(Tensor x, RoutingDecision decision, MixLoraDropout.Masks? masks)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        var settings = new FusedExpertSettings(expertCount, lora.Rank, lora.Scaling, lora.Dropout, training);
        Tensor y = FusedExpertFeedForward.Apply(x.reshape(b * l, d), gate_proj.Weight, up_proj.Weight, down_proj.Weight,
            SharedExpertProjection.InterleavedA(gate_proj, up_proj), gate_proj.Experts.B, up_proj.Experts.B, down_proj.Experts.StackedA(), down_proj.Experts.B,
            decision.Weights, decision.Experts, settings,
            masks?.GateUp, masks?.Hidden);
        return y.view(b, l, d);
    }
}
