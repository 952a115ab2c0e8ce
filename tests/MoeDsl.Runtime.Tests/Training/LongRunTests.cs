using System;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using MoeDsl.Runtime.Experts;

namespace MoeDsl.Runtime.Tests.Training;

/// <summary>A 1,000-step run keeps the live tensor count and the resident memory flat after warm-up
/// (one dispose scope per step; routing records disposed after every forward).</summary>
[Collection(nameof(SerialTests))]
public sealed class LongRunTests
{
    private readonly ITestOutputHelper output;
    public LongRunTests(ITestOutputHelper output) => this.output = output;

    private static long RssBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return 0;
    }

    /// <summary>Auto runs these tiny layers dense-masked; Fused runs the custom autograd function (its saved tensors and
    /// backward-returned gradients must not outlive the step either).</summary>
    [SkippableTheory]
    [InlineData(ExpertExecution.Auto)]
    [InlineData(ExpertExecution.Fused)]
    public void ThousandStepsKeepLiveTensorsAndRssFlat(ExpertExecution execution)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the resident memory is read from /proc");
        var config = new LlamaConfig(32, 64, 2, 4, 2, 48);
        var spec = new ModelSpec
        {
            Name = "flat", Placement = ExpertPlacement.FeedForward, Router = new GraphRouterSettings { Hidden = 8 }, Targets = LoraTargets.All, Alpha = 8, Dropout = 0.05,
            Groups = new[] { new ExpertGroup(Experts: 4, TopK: 2, Rank: 4) }, LoadBalance = 0.001,
            Layers = 2, Hidden = 32, Intermediate = 64, Heads = 4, KvHeads = 2, Vocab = 48,
        };
        random.manual_seed(3);
        using var model = SpecModel.Create(config, spec);
        var ffns = model.modules().OfType<MoeFeedForward>().ToList();
        Assert.Equal(2, ffns.Count);
        foreach (MoeFeedForward ffn in ffns) ffn.Execution = execution;
        var rng = new Random(5);
        var pool = Enumerable.Range(0, 64).Select(_ => TokenSequence.Plain(Enumerable.Range(0, 24).Select(_ => (long)rng.Next(3, 48)).ToArray())).ToList();
        var source = new SequencePoolBatches(pool, 8, 0, 1);
        using var trainer = new Trainer(model, new TrainerOptions { Steps = 1000, LearningRate = 1e-3 });

        const int warmup = 100, steps = 1000;
        long liveWarm = 0, rssWarm = 0;
        for (int step = 1; step <= steps; step++)
        {
            trainer.Step(step, source);
            if (step == warmup)
            {
                GC.Collect(); GC.WaitForPendingFinalizers();
                liveWarm = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
                rssWarm = RssBytes();
            }
        }
        GC.Collect(); GC.WaitForPendingFinalizers();
        long liveEnd = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssEnd = RssBytes();
        output.WriteLine($"live tensors after {warmup} steps: {liveWarm}, after {steps}: {liveEnd}; RSS {rssWarm / 1048576.0:F1} MiB -> {rssEnd / 1048576.0:F1} MiB");
        Assert.Equal(liveWarm, liveEnd);
        Assert.True(rssEnd - rssWarm < 24L * 1024 * 1024, $"RSS grew by {(rssEnd - rssWarm) / 1048576.0:F1} MiB over {steps - warmup} steps");
    }
}
