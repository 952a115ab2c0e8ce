using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Tests;
using MoeDsl.Runtime.Training;
using MoeDsl.Samples.Embedded;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Reliability;

/// <summary>N steps, stop (checkpoint), fresh process state, resume to 2N: the same losses and adapter bits as 2N in one go.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator (dropout, seeds) must not be drawn from by parallel tests
public sealed class ExactResumeTests
{
    private const int N = 4;

    // MixLoRA with dropout 0.1 (so the generator state matters), top-2 of 4 experts, load balance; AdamW with weight decay.
    private static readonly ModelSpec Spec = new()
    {
        Name = "ResumeMix", Placement = ExpertPlacement.FeedForward, Router = new TopKRouterSettings(), Targets = LoraTargets.All, Alpha = 8, Dropout = 0.1,
        Groups = new[] { new ExpertGroup(Experts: 4, TopK: 2, Rank: 4) }, LoadBalance = 0.01,
        Layers = 4, Hidden = 32, Intermediate = 64, Heads = 2, KvHeads = 1, Vocab = EmbeddedVocabulary.Size,
    };

    private static List<TokenSequence> Pool()
    {
        var rng = new Random(3);
        return Enumerable.Range(0, 40).Select(_ => TokenSequence.Plain(SyntheticCorpus.Sequence(rng, 24))).ToList();
    }

    private static readonly TrainerOptions Options = new() { Steps = 2 * N, LearningRate = 1e-2, WarmupSteps = 2, Schedule = ScheduleKind.Cosine, WeightDecay = 0.01, RouterWeightDecay = 0.001, Seed = 11 };

    private static (TrainingRunResult Result, string Out) RunOnce(string outDir, bool resume, Func<int, bool>? stopAfter)
    {
        string baseDir = TinyBase.Directory;
        random.manual_seed(resume ? 999 : 5);   // a resumed process starts from a different generator state on purpose
        using SpecModel model = SpecModel.FromPretrained(TinyBase.Directory, Spec);
        var source = new SequencePoolBatches(Pool(), 6, EmbeddedVocabulary.Pad, 11);
        int done = 0;
        var run = new TrainingRun(model, Options, source, new TrainingRunOptions { OutputDirectory = outDir, Resume = resume, RunKey = "resume-test", BaseModelNameOrPath = "tiny" })
        {
            StopRequested = () => stopAfter?.Invoke(done) == true,
            OnStep = _ => done++,
        };
        return (run.Run(), outDir);
    }

    [Fact]
    public void StopAtNThenResumeTo2NEqualsUninterruptedBitForBit()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (straight, _) = RunOnce(Path.Combine(root, "straight"), resume: false, stopAfter: null);
            Assert.Equal(RunOutcome.Completed, straight.Outcome);

            string split = Path.Combine(root, "split");
            var (first, _) = RunOnce(split, resume: false, stopAfter: d => d >= N);
            Assert.Equal(RunOutcome.Interrupted, first.Outcome);
            Assert.Equal(N, first.LastStep);
            var (second, _) = RunOnce(split, resume: true, stopAfter: null);
            Assert.Equal(RunOutcome.Completed, second.Outcome);
            Assert.Equal(N, second.ResumedFrom);
            Assert.Equal(N, second.Steps.Count);

            string[] a = File.ReadAllLines(Path.Combine(root, "straight", TrainingRun.MetricsFile));
            string[] b = File.ReadAllLines(Path.Combine(split, TrainingRun.MetricsFile));
            Assert.Equal(2 * N, a.Length);
            Assert.Equal(2 * N, b.Length);
            for (int i = 0; i < a.Length; i++)
            {
                JsonNode x = JsonNode.Parse(a[i])!, y = JsonNode.Parse(b[i])!;
                foreach (string field in new[] { "step", "loss", "lr", "grad_norm" })
                    Assert.True(x[field]!.ToJsonString() == y[field]!.ToJsonString(), $"step {i + 1} {field}: {x[field]} vs {y[field]}");
                Assert.Equal(x["aux"]!.ToJsonString(), y["aux"]!.ToJsonString());
            }
            // The losses moved (the test would be vacuous on a frozen model).
            Assert.NotEqual(JsonNode.Parse(a[0])!["loss"]!.ToJsonString(), JsonNode.Parse(a[^1])!["loss"]!.ToJsonString());

            using SafeTensorsFile fa = SafeTensorsFile.Open(Path.Combine(root, "straight", TrainingRun.AdapterFolder, AdapterStore.TensorFile));
            using SafeTensorsFile fb = SafeTensorsFile.Open(Path.Combine(split, TrainingRun.AdapterFolder, AdapterStore.TensorFile));
            Assert.Equal(fa.Entries.Select(e => e.Name).OrderBy(n => n), fb.Entries.Select(e => e.Name).OrderBy(n => n));
            int changed = 0;
            foreach (var e in fa.Entries)
            {
                using Tensor ta = fa.Read(e.Name), tb = fb.Read(e.Name);
                Assert.Equal(ta.shape, tb.shape);
                Assert.True(ta.eq(tb).all().item<bool>(), $"{e.Name} differs after resume");
                if (e.Name.Contains("lora_B")) changed += ta.abs().sum().item<float>() > 0 ? 1 : 0;
            }
            Assert.True(changed > 0, "no LoRA B matrix moved away from zero");
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void ResumeWithAnotherRunKeyIsRefusedNamingIt()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            RunOnce(root, resume: false, stopAfter: d => d >= 1);
            random.manual_seed(1);
            using SpecModel model = SpecModel.FromPretrained(TinyBase.Directory, Spec);
            var run = new TrainingRun(model, Options, new SequencePoolBatches(Pool(), 6, 0, 11), new TrainingRunOptions { OutputDirectory = root, Resume = true, RunKey = "other" });
            var e = Assert.Throws<ModelFormatException>(() => run.Run());
            Assert.Contains("resume-test", e.Message);
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void InMemoryRunMatchesTheFolderRunAndWritesOnlyTheNamedAdapter()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (onDisk, _) = RunOnce(Path.Combine(root, "disk"), resume: false, stopAfter: null);
            random.manual_seed(5);
            using SpecModel model = SpecModel.FromPretrained(TinyBase.Directory, Spec);
            var source = new SequencePoolBatches(Pool(), 6, EmbeddedVocabulary.Pad, 11);
            Assert.Throws<ArgumentException>(() => new TrainingRun(model, Options, source, new TrainingRunOptions { SaveEvery = 2 }));
            Assert.Throws<ArgumentException>(() => new TrainingRun(model, Options, source, new TrainingRunOptions { Resume = true }));

            string memory = Path.Combine(root, "memory");
            string adapter = Path.Combine(memory, "named-adapter");
            TrainingRunResult inMemory = new TrainingRun(model, Options, source, new TrainingRunOptions { AdapterDirectory = adapter, BaseModelNameOrPath = "tiny" }).Run();

            Assert.Equal(RunOutcome.Completed, inMemory.Outcome);
            Assert.Null(inMemory.Checkpoint);
            Assert.Equal(adapter, inMemory.AdapterDirectory);
            Assert.Equal(new[] { adapter }, Directory.GetFileSystemEntries(memory));
            Assert.Equal(onDisk.Steps.Select(r => r.LmLoss), inMemory.Steps.Select(r => r.LmLoss));
            Assert.Equal(onDisk.Steps.Select(r => r.GradNorm), inMemory.Steps.Select(r => r.GradNorm));
            Assert.Equal(File.ReadAllBytes(Path.Combine(root, "disk", TrainingRun.AdapterFolder, AdapterStore.TensorFile)),
                File.ReadAllBytes(Path.Combine(adapter, AdapterStore.TensorFile)));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }
}
