using MoeDsl.Runtime.IO;
using TorchSharp;

namespace MoeDsl.Benchmarks;

/// <summary><c>live_tensors_end_vs_warm</c> and <c>rss_end_vs_warm</c>: live tensors (TorchSharp's DisposeScopeManager
/// statistics) and RSS after warm-up and after N more train steps of a small MixLoRA model; one dispose scope per step
/// must leave nothing behind, so both ratios should stay at 1.</summary>
internal static class Flatness
{
    /// <summary>Steps before the first reading, so that optimizer state and caches exist by then.</summary>
    private const int WarmSteps = 20;

    public static void Run(Options options, Report report)
    {
        var c = new LlamaConfig(128, 352, 4, 4, 4, 1000, MaxPositionEmbeddings: 512);
        var shape = new BenchShape("flatness", c, 2, 64);
        using var step = TrainStep.Create(Specs.MixLora(c), shape, options.Execution);
        for (int i = 0; i < WarmSteps; i++) step.Run();
        ProcMemory.CollectGarbage();
        long liveWarm = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssWarm = ProcMemory.Rss();
        for (int i = 0; i < options.FlatSteps; i++) step.Run();
        ProcMemory.CollectGarbage();
        long liveEnd = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssEnd = ProcMemory.Rss();
        report.Add(new Figure("live_tensors_end_vs_warm", $"live tensors after {options.FlatSteps} more steps", $"live tensors after {WarmSteps} warm-up steps", liveEnd, liveWarm, (double)liveEnd / liveWarm, "tensors", "1.000"));
        report.Add(new Figure("rss_end_vs_warm", $"RSS after {options.FlatSteps} more steps", $"RSS after {WarmSteps} warm-up steps", rssEnd / 1048576.0, rssWarm / 1048576.0, (double)rssEnd / rssWarm, "MiB", "~1.0"));
        report.Note(string.Create(Invariant.Culture, $"flatness: MixLoRA 8x top-2 r=16 on a 128/352/4-layer/1000-vocab base, 2x64 tokens; live tensors = DisposeScopeManager.Statistics.ThreadTotalLiveCount (this thread, parameters and optimizer state included): {liveWarm} -> {liveEnd}; RSS {rssWarm / 1048576.0:F1} -> {rssEnd / 1048576.0:F1} MiB"));
    }
}
