using MoeDsl.Runtime.IO;

namespace MoeDsl.Benchmarks;

/// <summary><c>mola2468_vs_lora_train_step</c>: one full train step of MoLA 2-4-6-8 (experts on every projection, top-2,
/// r=8) over plain LoRA r=8.</summary>
internal static class MolaVsLoraTrainStep
{
    public static void Run(Options options, Report report)
    {
        LlamaConfig c = options.Shape.Config;
        TrainStepComparison.Run(options, report, "mola2468_vs_lora_train_step", Specs.Mola2468(c), Specs.Lora(c, 8), "report");
    }
}
