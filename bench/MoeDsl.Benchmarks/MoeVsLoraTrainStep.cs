using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Benchmarks;

/// <summary><c>moe_vs_lora_train_step</c>: one full train step of MixLoRA (8 experts, top-2, r=16) over plain LoRA r=16
/// on all seven projections, and its per-token forward/backward times in the layout of MixLoRA's Table 6.</summary>
internal static class MoeVsLoraTrainStep
{
    public static void Run(Options options, Report report)
    {
        LlamaConfig c = options.Shape.Config;
        ModelSpec moe = Specs.MixLora(c), lora = Specs.Lora(c, 16);
        var (a, b) = TrainStepComparison.Run(options, report, "moe_vs_lora_train_step", moe, lora, options.IsFull ? "<= 1.05" : "<= 1.10");   // issue 18's goals
        double perTok = 1000.0 / options.Shape.Tokens;
        report.AddTable6Row(string.Create(Invariant.Culture, $"| {"method",-24} | {"forward us/token",16} | {"backward us/token",17} | {"fwd ratio",9} | {"bwd ratio",9} |"));
        report.AddTable6Row("|--------------------------|------------------|-------------------|-----------|-----------|");
        report.AddTable6Row(string.Create(Invariant.Culture, $"| {lora.Name,-24} | {b.Forward * perTok,16:F2} | {b.Backward * perTok,17:F2} | {1.0,9:F3} | {1.0,9:F3} |"));
        report.AddTable6Row(string.Create(Invariant.Culture, $"| {moe.Name,-24} | {a.Forward * perTok,16:F2} | {a.Backward * perTok,17:F2} | {a.Forward / b.Forward,9:F3} | {a.Backward / b.Backward,9:F3} |"));
    }
}
