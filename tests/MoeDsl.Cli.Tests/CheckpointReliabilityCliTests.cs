using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Threading;
using MoeDsl.Tests;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Cli.Tests;

/// <summary>Real `moedsl` processes killed inside the replacement of an existing checkpoint, stopped by a full disk
/// after a checkpoint exists, and given a config.json that claims more than its weights: the last complete checkpoint
/// always survives and `--resume` continues from it; the lying config is one line and exit code 1, before allocation.</summary>
public sealed class CheckpointReliabilityCliTests : IClassFixture<CheckpointReliabilityCliTests.FinishedRun>
{
    private static readonly string[] CheckpointFiles =
        { "adapter_model.safetensors", "adapter_config.json", "optimizer.bin", "rng_state.bin", "trainer_state.json", "metrics.jsonl" };

    private readonly ITestOutputHelper output;
    private readonly FinishedRun finished;

    public CheckpointReliabilityCliTests(ITestOutputHelper output, FinishedRun finished)
    {
        this.output = output;
        this.finished = finished;
    }

    private static string Temp() => Path.Combine(Path.GetTempPath(), "moedsl-cli-" + Guid.NewGuid().ToString("N"));

    private static string[] Train(string outDir, int steps, params string[] extra)
        => new[] { "train", "--method", "mixlora", "--model", TinyBase.Directory, "--data", "embedded", "--out", outDir, "--steps", steps.ToString(CultureInfo.InvariantCulture),
                   "--batch-size", "4", "--threads", "1", "--no-plots", "--lr", "5e-3", "--save-every", "2" }.Concat(extra).ToArray();

    private static Process Start(IEnumerable<string> command, IReadOnlyDictionary<string, string>? environment = null)
    {
        string[] all = command.ToArray();
        var psi = new ProcessStartInfo(all[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in all.Skip(1)) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    private static IEnumerable<string> Moedsl(string[] args) => new[] { "dotnet", CliTests.CliDll() }.Concat(args);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private static int[] MetricSteps(string outDir)
        => File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!)
            .Where(n => n["loss"] is not null).Select(n => (int)n["step"]!).ToArray();

    /// <summary>SHA-256 of every file of every folder under checkpoints/ (dot folders included), by relative path.</summary>
    private static SortedDictionary<string, string> Snapshot(string outDir)
    {
        string root = Path.Combine(outDir, "checkpoints");
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string f in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            result[Path.GetRelativePath(root, f)] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)));
        return result;
    }

    private static void AssertComplete(string dir)
    {
        foreach (string f in CheckpointFiles) Assert.True(File.Exists(Path.Combine(dir, f)), $"{dir} lacks {f}");
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (string d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        Directory.CreateDirectory(to);
        foreach (string f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }

    /// <summary>A finished 4-step run (checkpoint-00000002, checkpoint-00000004, adapter), trained once for the class and
    /// copied by each kill case.</summary>
    public sealed class FinishedRun : IDisposable
    {
        private readonly Lazy<string> folder = new(() =>
        {
            string outDir = Temp();
            var (code, _, stderr) = CliTests.Run(Train(outDir, 4));
            Assert.True(code == 0, stderr);
            return outDir;
        });

        public string Folder => folder.Value;

        public void Dispose()
        {
            if (folder.IsValueCreated && Directory.Exists(folder.Value)) Directory.Delete(folder.Value, true);
        }
    }

    /// <summary>A resume at the step of the last checkpoint saves that step again, so it replaces checkpoint-00000004
    /// with a new one. The process is SIGKILLed at each moment of the replacement (announced by the test hook): the new
    /// one written but not in place; swapped in by renameat2(RENAME_EXCHANGE) with the old one not yet deleted; and, in
    /// the portable fallback, the old one renamed aside with the new one not yet in place, and the new one in place with
    /// the old one not yet deleted. A complete checkpoint of step 4 exists after each kill, and `--resume` finishes from it.</summary>
    [SkippableTheory]
    [InlineData("written", false)]
    [InlineData("exchanged", false)]
    [InlineData("written", true)]
    [InlineData("aside", true)]
    [InlineData("replaced", true)]
    public void KilledWhileReplacingTheSameCheckpointResumeStillFindsItComplete(string moment, bool fallback)
    {
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "SIGKILL through libc kill()");
        Skip.If(moment == "exchanged" && !OperatingSystem.IsLinux(), "renameat2(RENAME_EXCHANGE) is Linux-only");
        string outDir = Temp();
        try
        {
            CopyFolder(finished.Folder, outDir);
            string checkpoint = Path.Combine(outDir, "checkpoints", "checkpoint-00000004");
            var before = Snapshot(outDir);
            var environment = new Dictionary<string, string> { ["MOEDSL_TEST_SAVE_PAUSE_AT"] = moment };
            if (fallback) environment["MOEDSL_TEST_NO_RENAME_EXCHANGE"] = "1";

            using (Process p = Start(Moedsl(Train(outDir, 4, "--resume")), environment))
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                string marker = $"test hook: save of step 4 paused at {moment}";
                var seen = new List<string>();
                var wait = Stopwatch.StartNew();
                string? line;
                while ((line = p.StandardError.ReadLine()) is not null)
                {
                    seen.Add(line);
                    if (line == marker) break;
                    Assert.True(wait.Elapsed.TotalSeconds < 120, "no pause marker in 2 minutes");
                }
                Assert.True(line == marker, $"the run ended without reaching '{moment}': {string.Join(" | ", seen)}");
                Assert.Equal(0, kill(p.Id, 9));
                p.WaitForExit();
                _ = stdout.Result;
            }

            // Killed in the window: a complete checkpoint of step 4 exists, under its name or, only between the fallback's
            // two renames, under the aside name (the old one, byte for byte), which resume counts and renames back.
            string root = Path.Combine(outDir, "checkpoints");
            string[] aside = Directory.GetDirectories(root, ".checkpoint-00000004.old-*");
            if (moment == "aside")
            {
                Assert.False(Directory.Exists(checkpoint));
                string old = Assert.Single(aside);
                AssertComplete(old);
                foreach (string f in CheckpointFiles)
                    Assert.Equal(before[Path.Combine("checkpoint-00000004", f)], Snapshot(outDir)[Path.Combine(Path.GetFileName(old), f)]);
            }
            else
            {
                AssertComplete(checkpoint);
            }
            AssertComplete(Path.Combine(root, "checkpoint-00000002"));

            var (code, so, se) = CliTests.Run(Train(outDir, 4, "--resume"));
            output.WriteLine(so + se);
            Assert.True(code == 0, se);
            Assert.Contains("resumed from step 4", so);
            AssertComplete(checkpoint);
            Assert.Empty(Directory.GetDirectories(root, ".*"));
            Assert.Equal(new[] { 1, 2, 3, 4 }, MetricSteps(outDir));
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    /// <summary>The disk fills up after a checkpoint exists: a run interrupted with Ctrl-C (checkpoint at step k) is
    /// resumed under a file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored, so write() fails with EFBIG as on a full disk;
    /// no root needed) smaller than the adapter file, so the next checkpoint cannot be written. The run stops with one
    /// line naming the checkpoint and the intact previous one, exit code 1; every existing checkpoint is byte-identical
    /// and no partial folder is left; `--resume` without the limit finishes the run from step k, every step once.</summary>
    [SkippableFact]
    public void ADiskFullWhileCheckpointingKeepsTheEarlierCheckpointAndResumeFinishes()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "uses bash's ulimit -f (RLIMIT_FSIZE)");
        const int steps = 40;
        string outDir = Temp();
        try
        {
            // 1. A checkpoint exists: Ctrl-C once checkpoint-00000002 is complete (saves slowed so it lands mid-run).
            using (Process p = Start(Moedsl(Train(outDir, steps)), new Dictionary<string, string> { ["MOEDSL_TEST_SAVE_DELAY_MS"] = "200" }))
            {
                var so = p.StandardOutput.ReadToEndAsync();
                var se = p.StandardError.ReadToEndAsync();
                string state = Path.Combine(outDir, "checkpoints", "checkpoint-00000002", "trainer_state.json");
                var wait = Stopwatch.StartNew();
                while (!File.Exists(state) && !p.HasExited && wait.Elapsed.TotalSeconds < 120) Thread.Sleep(50);
                Assert.Equal(0, kill(p.Id, 2));
                p.WaitForExit();
                Assert.True(p.ExitCode == 130, so.Result + se.Result);
            }
            string root = Path.Combine(outDir, "checkpoints");
            int k = Directory.GetDirectories(root, "checkpoint-*").Select(d => int.Parse(Path.GetFileName(d).AsSpan("checkpoint-".Length), CultureInfo.InvariantCulture)).Max();
            Assert.InRange(k, 2, steps - 2);
            var before = Snapshot(outDir);
            long adapterBytes = new FileInfo(Path.Combine(root, $"checkpoint-{k:D8}", "adapter_model.safetensors")).Length;
            long limitKb = adapterBytes / 1024 / 2;
            // Every other file the run writes stays far below the limit (metrics and event lines of 40 steps).
            Assert.True(limitKb >= 64, $"the adapter ({adapterBytes} bytes) is too small to tell a checkpoint from a log line");

            // 2. Resume with a disk that takes no file of the adapter's size.
            // W^X off: the runtime's double mapping of JIT code sizes a memory file beyond any small RLIMIT_FSIZE.
            string script = "trap '' XFSZ; ulimit -f " + limitKb.ToString(CultureInfo.InvariantCulture) + "; exec \"$0\" \"$@\"";
            using (Process p = Start(new[] { "bash", "-c", script }.Concat(Moedsl(Train(outDir, steps, "--resume"))),
                                     new Dictionary<string, string> { ["DOTNET_EnableWriteXorExecute"] = "0" }))
            {
                var so = p.StandardOutput.ReadToEndAsync();
                string stderr = p.StandardError.ReadToEnd();
                Assert.True(p.WaitForExit(300_000), "the limited run did not end");
                output.WriteLine(so.Result + stderr);
                Assert.True(p.ExitCode == 1, $"exit code {p.ExitCode}: {stderr}");
                string error = Assert.Single(stderr.Split('\n'), l => l.StartsWith("moedsl:", StringComparison.Ordinal));
                Assert.Contains("could not be written", error);
                Assert.Contains($"the previous checkpoint checkpoint-{k:D8} is intact", error);
                Assert.DoesNotContain("   at ", stderr + so.Result);
            }
            Assert.Equal(before, Snapshot(outDir));   // every checkpoint as it was, nothing partial left beside them

            // 3. Space again: resume finishes from step k, every step exactly once.
            var (code, stdout, err) = CliTests.Run(Train(outDir, steps, "--resume"));
            output.WriteLine(stdout + err);
            Assert.True(code == 0, err);
            Assert.Contains($"resumed from step {k}", stdout);
            Assert.Equal(Enumerable.Range(1, steps).ToArray(), MetricSteps(outDir));
            AssertComplete(Path.Combine(root, $"checkpoint-{steps:D8}"));
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    /// <summary>`generate` on a folder whose config.json claims 2^31-1 layers (the weights hold 4) exits with code 1 and one
    /// line naming the file, the field, both sizes and the fix, quickly, and under a 1 GiB limit on its data segment
    /// (RLIMIT_DATA), which building even a fraction of the claimed layers would exceed.</summary>
    [SkippableFact]
    public void GenerateRefusesAConfigThatClaimsMoreLayersThanTheWeightsBeforeAllocating()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "uses bash's ulimit -d (RLIMIT_DATA)");
        string dir = Temp();
        try
        {
            CopyFolder(TinyBase.Directory, dir);
            JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
            config["num_hidden_layers"] = int.MaxValue;
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());

            var watch = Stopwatch.StartNew();
            using Process p = Start(new[] { "bash", "-c", "ulimit -d 1048576; exec \"$0\" \"$@\"" }.Concat(Moedsl(new[] { "generate", "--model", dir, "--prompt-ids", "1" })));
            var so = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(120_000), "generate did not end");
            output.WriteLine($"{watch.Elapsed.TotalSeconds:F1}s: {stderr}");
            Assert.True(p.ExitCode == 1, $"exit code {p.ExitCode}: {stderr}");
            string line = Assert.Single(stderr.Trim().Split('\n'));
            Assert.Equal($"moedsl: {Path.Combine(dir, "config.json")}: 'num_hidden_layers' is 2147483647 in config.json but the weights say layers present 0..3 (model.layers.N.*); set num_hidden_layers to 4", line);
            Assert.Empty(so.Result);
            Assert.True(watch.Elapsed.TotalSeconds < 60, $"took {watch.Elapsed.TotalSeconds:F1}s");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
