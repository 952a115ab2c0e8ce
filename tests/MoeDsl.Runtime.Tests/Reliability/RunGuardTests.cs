using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using MoeDsl.Samples.Embedded;
using MoeDsl.Tests;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Reliability;

/// <summary>What <see cref="TrainingRun"/> guarantees to library users, not only to the CLI: its output folder has one
/// writer, and a resume does not change the training settings silently.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator
public sealed class RunGuardTests
{
    private static readonly ModelSpec Spec = new()
    {
        Name = "GuardLora", Targets = LoraTargets.All, Alpha = 8, Groups = new[] { new ExpertGroup(Experts: 1, TopK: 1, Rank: 4) },
        Layers = 4, Hidden = 32, Intermediate = 64, Heads = 2, KvHeads = 1, Vocab = EmbeddedVocabulary.Size,
    };

    private static readonly TrainerOptions Options = new() { Steps = 4, LearningRate = 1e-2, Schedule = ScheduleKind.Cosine, Seed = 3 };

    private static TrainingRun Run(string outDir, TrainerOptions options, bool resume, bool allowChanges = false, int stopAfter = int.MaxValue)
    {
        random.manual_seed(1);
        SpecModel model = SpecModel.FromPretrained(TinyBase.Directory, Spec);
        var rng = new Random(3);
        var pool = Enumerable.Range(0, 24).Select(_ => TokenSequence.Plain(SyntheticCorpus.Sequence(rng, 16))).ToList();
        int done = 0;
        return new TrainingRun(model, options, new SequencePoolBatches(pool, 4, EmbeddedVocabulary.Pad, 3),
            new TrainingRunOptions { OutputDirectory = outDir, Resume = resume, AllowSettingChanges = allowChanges, RunKey = "guard" })
        {
            StopRequested = () => done >= stopAfter,
            OnStep = _ => done++,
        };
    }

    [Fact]
    public void ChangedSettingsAreRefusedNamingEachUnlessAllowedAndThenRecorded()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-guard-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Equal(RunOutcome.Interrupted, Run(root, Options, resume: false, stopAfter: 2).Run().Outcome);
            var changed = Options with { LearningRate = 5e-3, WeightDecay = 0.05 };
            var refused = Assert.Throws<ResumeSettingsChangedException>(() => Run(root, changed, resume: true).Run());
            Assert.Equal(new[] { new SettingChange("lr", "0.01", "0.005"), new SettingChange("weight-decay", "0", "0.05") }, refused.Changes);
            Assert.Contains("lr 0.01 -> 0.005, weight-decay 0 -> 0.05", refused.Message);

            // A constant schedule may be extended: its total number of steps changes no step's learning rate.
            Assert.Empty(TrainingSettings.Compare(TrainingSettings.Of(Options with { Schedule = ScheduleKind.Constant }),
                TrainingSettings.Of(Options with { Schedule = ScheduleKind.Constant, Steps = 40 })));

            TrainingRunResult allowed = Run(root, changed, resume: true, allowChanges: true).Run();
            Assert.Equal(RunOutcome.Completed, allowed.Outcome);
            Assert.Equal(2, allowed.ResumedFrom);
            Assert.Equal(2, allowed.SettingChanges!.Count);
            JsonNode line = File.ReadAllLines(Path.Combine(root, TrainingRun.MetricsFile)).Select(l => JsonNode.Parse(l)!).Single(n => n["resumed_with_changes"] is not null);
            Assert.Equal(2, (int)line["step"]!);
            Assert.Equal("0.05", (string)line["resumed_with_changes"]!["weight-decay"]!["new"]!);
            IReadOnlyDictionary<string, string> recorded = TrainingCheckpoint.ReadState(TrainingCheckpoint.Latest(root)!).Settings!;
            Assert.Equal("0.005", recorded["lr"]);   // the next resume compares against the new settings
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void AFolderHeldByAnotherLockIsRefusedNamingTheHolder()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-guard-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (FolderLock held = FolderLock.Acquire(FolderLock.PathIn(root)))
            {
                var e = Assert.Throws<FolderLockedException>(() => Run(root, Options, resume: false).Run());
                Assert.Equal(Environment.ProcessId, e.Holder?.ProcessId);
                Assert.Contains($"pid {Environment.ProcessId} on ", e.Message);
                Assert.False(File.Exists(Path.Combine(root, TrainingRun.MetricsFile)));
            }
            Assert.Equal(RunOutcome.Completed, Run(root, Options, resume: false).Run().Outcome);   // released: the folder is free again
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }
}
