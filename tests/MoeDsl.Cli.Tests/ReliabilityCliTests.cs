using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using MoeDsl.Runtime.IO;
using MoeDsl.Tests;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Cli.Tests;

/// <summary>Process-level guarantees of the built moedsl: no failure escapes as a stack trace or an abort, an output
/// folder has one writer at a time (an OS lock that a kill releases), a resume never changes the training settings
/// silently.</summary>
public sealed class ReliabilityCliTests
{
    private readonly ITestOutputHelper output;
    public ReliabilityCliTests(ITestOutputHelper output) => this.output = output;

    private static string OneLine(string stderr)
    {
        string[] lines = stderr.Trim().Split('\n');
        Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + stderr);
        Assert.DoesNotContain("   at ", stderr);
        return lines[0];
    }

    private static string Generate(params string[] extra)
    {
        var (code, stdout, stderr) = CliTests.Run(new[] { "generate", "--model", TinyBase.Directory, "--prompt-ids", "1", "--max-new-tokens", "12", "--threads", "1" }.Concat(extra).ToArray());
        Assert.True(code == 0, stderr);
        return stdout.Trim().Split('\n').Last().Trim();
    }

    /// <summary>A temperature of 1e-300 used to build inf/NaN probabilities and abort (rc 134) in multinomial; now every
    /// legal temperature samples from finite float64 weights, and those at or below 1e-6 are greedy by definition.</summary>
    [Fact]
    public void TinyTemperaturesAreGreedyAndNeverAbort()
    {
        string greedy = Generate("--temperature", "0");
        Assert.Equal(12, greedy.Split(' ').Length);
        Assert.Equal(greedy, Generate("--temperature", "1e-300"));
        Assert.Equal(greedy, Generate("--temperature", "1e-6", "--seed", "5"));
        foreach (string t in new[] { "1.0000001e-6", "1e-3", "100" })
            Assert.Equal(12, Generate("--temperature", t, "--top-k", "3", "--seed", "3").Split(' ').Length);
    }

    /// <summary>A real libtorch failure (the test hook runs multinomial over a NaN weight) inside a verb is one line
    /// naming the exception type, exit code 4, no stack trace, no abort.</summary>
    [Fact]
    public void ANativeErrorIsOneLineAndExitCode4()
    {
        var (code, stdout, stderr) = CliTests.RunWith(new Dictionary<string, string> { ["MOEDSL_TEST_NATIVE_ERROR"] = "1" },
            "generate", "--model", TinyBase.Directory, "--prompt-ids", "1");
        output.WriteLine(stderr);
        Assert.Equal(4, code);
        string line = OneLine(stderr);
        Assert.StartsWith("moedsl: internal error (ExternalException): ", line);
        Assert.DoesNotContain("frame #", stderr + stdout);
        var (helpCode, helpOut, _) = CliTests.Run("generate", "--help");
        Assert.Equal(0, helpCode);
        Assert.Contains("4 internal or native error", helpOut);
    }

    /// <summary>A run holds its --out with an OS lock: a second `train --out same` (fresh or --resume) is refused with one
    /// line naming the holder's pid and exit code 2, and the first run's files are untouched; after the holder is killed
    /// (SIGKILL: no cleanup) its lock file and holder record stay behind, and they do not block the resume.</summary>
    [Fact]
    public async System.Threading.Tasks.Task ASecondWriterIsRefusedNamingTheHolderAndAKilledHoldersLockNeverBlocks()
    {
        string outDir = WorkflowCliTests.Temp();
        try
        {
            string[] first = WorkflowCliTests.Train(outDir, 1_000_000, "--schedule", "constant", "--save-every", "2");
            using Process holder = WorkflowCliTests.Start(first);
            var stdout = holder.StandardOutput.ReadToEndAsync();
            var stderr = holder.StandardError.ReadToEndAsync();
            string root = Path.Combine(outDir, "checkpoints");
            var wait = Stopwatch.StartNew();
            while (wait.Elapsed.TotalSeconds < 120 && !holder.HasExited && !(Directory.Exists(root) && Directory.EnumerateDirectories(root, "checkpoint-*").Any()))
                Thread.Sleep(100);
            Assert.False(holder.HasExited, "the first run ended early");
            Assert.True(Directory.EnumerateDirectories(root, "checkpoint-*").Any(), "the first run wrote no checkpoint in 120 s");

            foreach (string[] second in new[] { WorkflowCliTests.Train(outDir, 4), WorkflowCliTests.Train(outDir, 1_000_000, "--schedule", "constant", "--save-every", "2", "--resume") })
            {
                var (code, _, err) = CliTests.Run(second);
                output.WriteLine(err);
                Assert.Equal(2, code);
                string line = OneLine(err);
                Assert.Contains($"pid {holder.Id} on ", line);
                Assert.Contains("in use by another run", line);
            }
            Assert.False(holder.HasExited, "the first run was disturbed");

            Assert.Equal(0, WorkflowCliTests.kill(holder.Id, 9));
            await holder.WaitForExitAsync();
            output.WriteLine(await stdout + await stderr);
            string lockFile = Path.Combine(outDir, FolderLock.FileName);
            Assert.True(File.Exists(lockFile), "the killed run's lock file should be left behind");
            Assert.Equal(holder.Id, FolderLock.ReadHolder(lockFile)?.ProcessId);   // its stale record too

            string latest = Directory.EnumerateDirectories(root, "checkpoint-*").OrderBy(d => d, StringComparer.Ordinal).Last();
            int step = int.Parse(Path.GetFileName(latest).AsSpan("checkpoint-".Length), CultureInfo.InvariantCulture);
            var (rc, so, se) = CliTests.Run(WorkflowCliTests.Train(outDir, step + 2, "--schedule", "constant", "--save-every", "2", "--resume"));
            output.WriteLine(so + se);
            Assert.True(rc == 0, se);
            Assert.Contains($"resumed from step {step}", so);
            Assert.Equal(Enumerable.Range(1, step + 2).ToArray(), WorkflowCliTests.MetricSteps(outDir));
            Assert.Null(FolderLock.ReadHolder(lockFile));   // a run that ends normally removes its record
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    /// <summary>--resume with another --lr, --warmup and --steps (cosine schedule) is refused naming each change (old ->
    /// new) with exit code 2 and nothing written; with --resume-with-changes it continues on the new settings and
    /// metrics.jsonl records the change.</summary>
    [Fact]
    public void ResumeWithChangedSettingsIsRefusedNamingEachUnlessAllowedAndRecorded()
    {
        string outDir = WorkflowCliTests.Temp();
        try
        {
            var (c0, _, e0) = CliTests.Run(WorkflowCliTests.Train(outDir, 4));
            Assert.True(c0 == 0, e0);
            string metrics = Path.Combine(outDir, "metrics.jsonl");
            string before = File.ReadAllText(metrics);

            string[] changed = WorkflowCliTests.Train(outDir, 6, "--lr", "1e-3", "--warmup", "1", "--resume");
            var (c1, _, e1) = CliTests.Run(changed);
            output.WriteLine(e1);
            Assert.Equal(2, c1);
            string line = OneLine(e1);
            Assert.Contains("lr 0.005 -> 0.001, warmup 0 -> 1, steps 4 -> 6", line);
            Assert.Contains("--resume-with-changes", line);
            Assert.Equal(before, File.ReadAllText(metrics));
            Assert.False(Directory.Exists(Path.Combine(outDir, "checkpoints", "checkpoint-00000006")));

            var (c2, so2, e2) = CliTests.Run(changed.Append("--resume-with-changes").ToArray());
            output.WriteLine(so2 + e2);
            Assert.True(c2 == 0, e2);
            Assert.Contains("resumed from step 4 with changed settings", so2);
            Assert.Equal(new[] { 1, 2, 3, 4, 5, 6 }, WorkflowCliTests.MetricSteps(outDir));
            JsonNode[] lines = File.ReadAllLines(metrics).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToArray();
            JsonNode change = Assert.Single(lines, n => n["resumed_with_changes"] is not null)["resumed_with_changes"]!;
            Assert.Equal("0.005", (string)change["lr"]!["old"]!);
            Assert.Equal("0.001", (string)change["lr"]!["new"]!);
            Assert.Equal("6", (string)change["steps"]!["new"]!);
            Assert.Null(change["schedule"]);
            // Step 5 runs on the new schedule: warm-up 1, cosine to 0 over 6 steps, peak 1e-3.
            double lr5 = (double)lines.First(n => n["loss"] is not null && (int)n["step"]! == 5)["lr"]!;
            Assert.Equal(1e-3 * 0.5 * (1 + Math.Cos(Math.PI * 4 / 5)), lr5, 12);
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    /// <summary>Two first uses of the embedded base in two real processes sharing one cache folder
    /// (<c>MOEDSL_EMBEDDED_CACHE</c>): exactly one pre-trains, the other waits on the lock and reports the cache; both
    /// succeed, the cache is complete and no temporary folder is left.</summary>
    [Fact]
    public void TwoProcessesFirstUsingTheEmbeddedBasePretrainItOnce()
    {
        string root = WorkflowCliTests.Temp();
        string cache = Path.Combine(root, "embedded-base");
        Directory.CreateDirectory(root);
        try
        {
            Process Inspect()
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add(CliTests.CliDll());
                foreach (string a in new[] { "inspect", "--method", "lora", "--model", "embedded" }) psi.ArgumentList.Add(a);
                psi.Environment["MOEDSL_EMBEDDED_CACHE"] = cache;
                return Process.Start(psi)!;
            }
            using Process first = Inspect(), second = Inspect();
            var stderr = new[] { first.StandardError.ReadToEndAsync(), second.StandardError.ReadToEndAsync() };
            _ = first.StandardOutput.ReadToEndAsync();
            _ = second.StandardOutput.ReadToEndAsync();
            Assert.True(first.WaitForExit(300_000) && second.WaitForExit(300_000), "the two processes did not finish in 5 minutes");
            Assert.Equal((0, 0), (first.ExitCode, second.ExitCode));
            string[] logs = stderr.Select(t => t.Result).ToArray();
            Assert.Equal(1, logs.Count(l => l.Contains("embedded base: pre-training", StringComparison.Ordinal)));
            Assert.Equal(1, logs.Count(l => l.Contains("embedded base: cached at", StringComparison.Ordinal)));
            Assert.True(File.Exists(Path.Combine(cache, "model.safetensors")));
            Assert.Equal(new[] { cache }, Directory.GetDirectories(root));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }
}
