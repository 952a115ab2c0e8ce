using System;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using TorchSharp;
using static TorchSharp.torch;
using MoeDsl.Runtime.Experts;
using MoeDsl.Runtime.Experts.Execution;

namespace MoeDsl.Benchmarks;

/// <summary>The FFN-level figures, forward + backward of one layer on the run's tokens: <c>fused_vs_loop_ffn</c> (a
/// MoE-PEFT-style loop over the experts against our MixLoRA FFN on the same parameters) and, for context, our FFN's
/// dense-masked against its grouped execution, ours against a plain-LoRA FFN, and that plain LoRA FFN run by our fused
/// function against PEFT-style autograd and against ours.</summary>
internal static class FfnFigures
{
    public static void Run(Options options, Report report)
    {
        LlamaConfig c = options.Shape.Config;
        int h = c.HiddenSize, inter = c.IntermediateSize, experts = 8, topK = 2;
        var lora = new LoraSettings(16, 32, 0);   // dropout 0 so the loop and ours compute the same function (checked below)
        manual_seed(3);
        var recorder = new RoutingRecorder { Enabled = false };
        using var ours = new MoeFeedForward(h, inter, experts, lora, new TopKRouter(h, experts, topK), recorder, 0);
        using (no_grad())
            foreach (var (_, p) in ours.named_parameters())
                if (p.requires_grad) nn.init.normal_(p, 0, 0.02);    // non-zero B so every term counts
        ours.train();
        var loop = new LoopMixLoraFfn(ours, experts, lora.Scaling);
        LoraLinear plainGate = new(h, inter, lora, "gate_proj"), plainUp = new(h, inter, lora, "up_proj"), plainDown = new(inter, h, lora, "down_proj");
        using var plain = new LlamaMlp(plainGate, plainUp, plainDown);
        plain.train();
        using Tensor x = randn(options.Shape.Batch, options.Shape.SequenceLength, h).requires_grad_(true);
        using Tensor gradOut = randn(options.Shape.Batch, options.Shape.SequenceLength, h);

        // The loop baseline must compute our function: compare outputs and gradients once.
        double outDiff, gradDiff;
        using (var _ = NewDisposeScope())
        {
            Tensor yOurs = ours.forward(x);
            Tensor yLoop = loop.Forward(x);
            outDiff = (yOurs - yLoop).abs().max().item<float>();
            var gOurs = autograd.grad(new[] { yOurs }, new Tensor[] { x, ours.GateProj.Experts.A }, new[] { gradOut });
            var gLoop = autograd.grad(new[] { yLoop }, new Tensor[] { x, ours.GateProj.Experts.A }, new[] { gradOut });
            gradDiff = Math.Max((gOurs[0] - gLoop[0]).abs().max().item<float>(), (gOurs[1] - gLoop[1]).abs().max().item<float>());
        }
        report.Note(string.Create(Invariant.Culture, $"fused_vs_loop_ffn: loop baseline vs ours, max |diff| output {outDiff:E2}, gradients (x, an expert's gate A) {gradDiff:E2}"));
        if (outDiff > 1e-3 || gradDiff > 1e-3)
            throw new InvalidOperationException($"the loop baseline and the fused layer disagree (output {outDiff}, gradient {gradDiff}); the figure would compare different functions");

        double Time(Func<Tensor, Tensor> f) => Measure.Milliseconds(
            () => f(x).backward(new[] { gradOut }),
            () => { ours.zero_grad(); plain.zero_grad(); x.grad?.zero_(); });
        const int factor = Measure.LayerRepsFactor;

        var (ml, mo, ratio, _) = Measure.Interleave(options, () => Time(loop.Forward), () => Time(ours.forward), factor);
        string mode = MoeFeedForward.Resolve(ours.Execution, x.shape[0] * x.shape[1] * topK, experts, lora.Rank, inter, DeviceType.CPU).ToString();
        report.Add(new Figure("fused_vs_loop_ffn", "MoE-PEFT-style loop FFN", $"ours (fused, Auto = {mode})", ml, mo, ratio, "ms fwd+bwd", ">= 1.3"));
        ours.Execution = ExpertExecution.DenseMasked;
        var (md, mg, ratio3, _) = Measure.Interleave(options, () => Time(ours.forward), () => { ours.Execution = ExpertExecution.Grouped; double ms = Time(ours.forward); ours.Execution = ExpertExecution.DenseMasked; return ms; }, factor);
        report.Add(new Figure("dense_vs_grouped_ffn", "ours, dense-masked (E*r GEMMs)", "ours, grouped (sorted segments)", md, mg, ratio3, "ms fwd+bwd", "context"));
        ours.Execution = ExpertExecution.Auto;
        var (mm, mp, ratio2, _) = Measure.Interleave(options, () => Time(ours.forward), () => Time(plain.forward), factor);
        report.Add(new Figure("moe_vs_lora_ffn", $"ours MixLoRA FFN 8x top-2 r=16 ({mode})", "plain LoRA FFN r=16 (PEFT-style)", mm, mp, ratio2, "ms fwd+bwd", "context"));

        // The plain-LoRA baseline above is PEFT-style autograd. The same recomputing function run as a plain LoRA FFN
        // (one expert, weight 1) says how much of moe_vs_lora_ffn is the MoE and how much is the fused execution.
        var single = new FusedExpertSettings(1, lora.Rank, lora.Scaling, lora.Dropout, Training: true);
        Tensor FusedLora(Tensor input)
        {
            long tokens = input.shape[0] * input.shape[1];
            Tensor y = FusedExpertFeedForward.Apply(input.reshape(tokens, h), plainGate.Weight, plainUp.Weight, plainDown.Weight,
                cat(new Tensor[] { plainGate.A, plainUp.A }, 0), plainGate.B.unsqueeze(0), plainUp.B.unsqueeze(0), plainDown.A, plainDown.B.unsqueeze(0),
                ones(tokens, 1), zeros(tokens, 1, dtype: ScalarType.Int64), single);
            return y.view(input.shape);
        }
        var (mf, pf, ratio4, _) = Measure.Interleave(options, () => Time(FusedLora), () => Time(plain.forward), factor);
        report.Add(new Figure("fused_lora_vs_lora_ffn", "plain LoRA FFN r=16 run by the fused function", "plain LoRA FFN r=16 (PEFT-style)", mf, pf, ratio4, "ms fwd+bwd", "context"));
        var (mm2, mf2, ratio5, _) = Measure.Interleave(options, () => Time(ours.forward), () => Time(FusedLora), factor);
        report.Add(new Figure("moe_vs_fused_lora_ffn", $"ours MixLoRA FFN 8x top-2 r=16 ({mode})", "plain LoRA FFN r=16, fused function", mm2, mf2, ratio5, "ms fwd+bwd", "context"));
    }
}
