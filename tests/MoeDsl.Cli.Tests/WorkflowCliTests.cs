using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Threading;
using MoeDsl.Runtime.IO;
using MoeDsl.Tests;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Cli.Tests;

/// <summary>train / eval / generate / inspect through the built moedsl, on a tiny random base with the embedded tasks;
/// kills, Ctrl-C and non-finite steps during training.</summary>
public sealed class WorkflowCliTests
{
    private readonly ITestOutputHelper output;
    public WorkflowCliTests(ITestOutputHelper output) => this.output = output;

    internal static string Temp() => Path.Combine(Path.GetTempPath(), "moedsl-cli-" + Guid.NewGuid().ToString("N"));

    internal static string[] Train(string outDir, int steps, params string[] extra)
        => new[] { "train", "--method", "mixlora", "--model", TinyBase.Directory, "--data", "embedded", "--out", outDir, "--steps", steps.ToString(CultureInfo.InvariantCulture),
                   "--batch-size", "4", "--threads", "1", "--no-plots" }
           .Concat(extra.Contains("--lr") ? Array.Empty<string>() : new[] { "--lr", "5e-3" }).Concat(extra).ToArray();

    internal static Process Start(string[] args, int saveDelayMs = 0)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliTests.CliDll());
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (saveDelayMs > 0) psi.Environment["MOEDSL_TEST_SAVE_DELAY_MS"] = saveDelayMs.ToString(CultureInfo.InvariantCulture);
        return Process.Start(psi)!;
    }

    [DllImport("libc", SetLastError = true)]
    internal static extern int kill(int pid, int sig);

    internal static int[] MetricSteps(string outDir)
        => File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).Where(n => n["loss"] is not null).Select(n => (int)n["step"]!).ToArray();

    /// <summary>Two `train` runs with the same arguments (default --seed) in two processes reach bit-identical losses (the
    /// seed fixes the adapter's initialisation, not only dropout and batches); and a third process whose JIT may not use
    /// AVX2 (DOTNET_EnableAVX2=0: Vector256 not accelerated, so the fused AdamW step and the FFN kernels take their
    /// TorchSharp-op paths) logs that and reaches the same losses within fp32 rounding.</summary>
    [Fact]
    public void SameSeedSameLossesAndTheKernelFallbackAgrees()
    {
        var dirs = new List<string>();
        try
        {
            double[] Losses(bool disableAvx2, string expectedLog)
            {
                string outDir = Temp();
                dirs.Add(outDir);
                var environment = disableAvx2 ? new Dictionary<string, string> { ["DOTNET_EnableAVX2"] = "0" } : null;
                string[] args = Train(outDir, 4);
                args[Array.IndexOf(args, "mixlora")] = "lora";   // no top-k: a rounding difference cannot flip a routing choice
                var (code, _, err) = CliTests.RunWith(environment, args);
                Assert.True(code == 0, err);
                Assert.Contains(expectedLog, err);
                return File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!)
                    .Where(n => n["loss"] is not null).Select(n => (double)n["loss"]!).ToArray();
            }
            double[] first = Losses(false, "cpu kernels: AVX2+FMA");
            double[] second = Losses(false, "cpu kernels: AVX2+FMA");
            double[] fallback = Losses(true, "cpu kernels: off");
            Assert.Equal(4, first.Length);
            Assert.Equal(first, second);
            Assert.Equal(first.Length, fallback.Length);
            for (int i = 0; i < first.Length; i++)
                Assert.True(Math.Abs(first[i] - fallback[i]) <= 1e-5 * Math.Max(1, Math.Abs(first[i])), $"step {i + 1}: {first[i]} vs {fallback[i]}");
        }
        finally
        {
            foreach (string d in dirs) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        }
    }

    [Fact]
    public void InspectMola2468PrintsThePaperAllocationWithHandCountedParameters()
    {
        var (code, stdout, stderr) = CliTests.Run("inspect", "--method", "mola-2468");
        Assert.True(code == 0, stderr);
        string[] rows = stdout.Split('\n').Where(l => l.Length > 0 && char.IsDigit(l.TrimStart().FirstOrDefault())).ToArray();
        Assert.Equal(32, rows.Length);
        // Layer 0: 2 experts of r = 8 on q,k,v,o (4096 -> 4096), gate/up (4096 -> 11008), down (11008 -> 4096), plus a router per projection.
        long layer0 = 4 * (2L * 8 * (4096 + 4096) + 2 * 4096) + 2 * (2L * 8 * (4096 + 11008) + 2 * 4096) + (2L * 8 * (11008 + 4096) + 2 * 11008);
        Assert.Equal(1_320_448, layer0);
        Assert.Contains(layer0.ToString("N0", CultureInfo.InvariantCulture), rows[0]);
        Assert.Matches(@"^\s*31\s+8\s+2\s+8\s+TopK\s+5,281,792$", rows[31].TrimEnd());
        Assert.Matches(@"^\s*8\s+4\s+2\s+8\s+TopK", rows[8]);
        Assert.Contains("total trainable parameters: 105,635,840", stdout);   // = the generator's compile-time count
    }

    [Fact]
    public void MergedLoraFolderGeneratesWhatTheAdapterGenerates()
    {
        string outDir = Temp(), merged = Temp();
        try
        {
            string[] train = { "train", "--method", "lora", "--model", TinyBase.Directory, "--data", "embedded", "--out", outDir, "--steps", "6",
                               "--batch-size", "4", "--lr", "5e-2", "--threads", "1", "--no-plots" };
            var (tc, _, terr) = CliTests.Run(train);
            Assert.True(tc == 0, terr);
            string adapter = Path.Combine(outDir, "adapter");
            var (mc, mout, merr) = CliTests.Run("merge", "--method", "lora", "--model", TinyBase.Directory, "--adapter", adapter, "--out", merged);
            Assert.True(mc == 0, merr);
            Assert.Contains("merged lora", mout);
            // The tokenizer travels with the weights: the merged folder is used like its base, text prompts included.
            Assert.Contains("+ char_tokenizer.json", mout);
            Assert.Equal(File.ReadAllText(Path.Combine(TinyBase.Directory, "char_tokenizer.json")), File.ReadAllText(Path.Combine(merged, "char_tokenizer.json")));
            var (tc2, _, terr2) = CliTests.Run("generate", "--model", merged, "--prompt", "the cat", "--max-new-tokens", "4", "--format", "text");
            Assert.True(tc2 == 0, terr2);
            // (without the tokenizer it fails: "has no tokenizer.json", exit 2)
            string[] prompt = { "--prompt-ids", "1,20,21,22", "--max-new-tokens", "16", "--format", "ids" };
            var (ac, aout, aerr) = CliTests.Run(new[] { "generate", "--method", "lora", "--model", TinyBase.Directory, "--adapter", adapter }.Concat(prompt).ToArray());
            var (bc, bout, berr) = CliTests.Run(new[] { "generate", "--model", merged }.Concat(prompt).ToArray());
            var (cc, cout, _) = CliTests.Run(new[] { "generate", "--model", TinyBase.Directory }.Concat(prompt).ToArray());
            Assert.True(ac == 0 && bc == 0 && cc == 0, aerr + berr);
            Assert.Equal(aout.Trim().Split('\n').Last(), bout.Trim().Split('\n').Last());
            output.WriteLine($"adapter {aout.Trim()} | merged {bout.Trim()} | base {cout.Trim()}");
            Assert.NotEqual(cout.Trim().Split('\n').Last(), aout.Trim().Split('\n').Last()); // the adapter changed the output
            var (xc, _, xerr) = CliTests.Run("merge", "--method", "mixlora", "--model", TinyBase.Directory, "--adapter", adapter, "--out", Temp());
            Assert.Equal(2, xc);
            Assert.Contains("only plain LoRA", xerr);
        }
        finally
        {
            foreach (string d in new[] { outDir, merged }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void TrainEvalGenerateOnTheEmbeddedTasks()
    {
        string outDir = Temp();
        try
        {
            var (code, stdout, stderr) = CliTests.Run(Train(outDir, 6, "--save-every", "3", "--eval-data", "embedded", "--eval-every", "3"));
            output.WriteLine(stdout + stderr);
            Assert.True(code == 0, stderr);
            Assert.Equal(new[] { 1, 2, 3, 4, 5, 6 }, MetricSteps(outDir));
            Assert.True(File.Exists(Path.Combine(outDir, "adapter", "adapter_model.safetensors")));
            Assert.True(Directory.Exists(Path.Combine(outDir, "checkpoints", "checkpoint-00000006")));
            Assert.Contains("load_balance", File.ReadAllText(Path.Combine(outDir, "metrics.jsonl")));
            Assert.Equal(2, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Count(l => l.Contains("eval_loss")));

            // The parameter count the trained model reports equals inspect's count for the same base (built vs. counted).
            string trained = stderr.Split('\n').First(l => l.StartsWith("mixlora: ", StringComparison.Ordinal) && l.Contains("trainable"));
            var (ic, istdout, _) = CliTests.Run("inspect", "--method", "mixlora", "--model", TinyBase.Directory);
            Assert.Equal(0, ic);
            string total = istdout.Split('\n').First(l => l.StartsWith("total", StringComparison.Ordinal)).Split(':')[1].Trim().Split(' ')[0];
            Assert.Contains(total + " trainable parameters", trained);

            string results = Path.Combine(outDir, "eval.json");
            var (ec, estdout, estderr) = CliTests.Run("eval", "--method", "mixlora", "--model", TinyBase.Directory, "--adapter", Path.Combine(outDir, "adapter"),
                "--data", "embedded", "--out", results, "--limit", "10", "--threads", "1");
            output.WriteLine(estdout + estderr);
            Assert.True(ec == 0, estderr);
            JsonNode task = JsonNode.Parse(File.ReadAllText(results))!["tasks"]![0]!;
            Assert.Equal("larger", (string)task["task"]!);
            Assert.Equal(10, (int)task["items"]!);
            foreach (string k in new[] { "label_acc", "acc", "acc_norm" })
            {
                double v = (double)task[k]!;
                Assert.InRange(v, 0, 1);
                Assert.Equal(0, Math.Round(v * 10) - v * 10, 9);   // a count out of 10 items
            }

            var (gc, gstdout, gstderr) = CliTests.Run("generate", "--method", "mixlora", "--model", TinyBase.Directory, "--adapter", Path.Combine(outDir, "adapter"),
                "--prompt", "add: 2+3 =>", "--max-new-tokens", "4", "--format", "ids");
            Assert.True(gc == 0, gstderr);
            Assert.Equal(4, gstdout.Trim().Split(' ').Length);
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    [Fact]
    public void KilledAtRandomMomentsResumeAlwaysStartsFromTheLastCompleteCheckpoint()
    {
        string outDir = Temp();
        const int steps = 80;
        var rng = new Random(20240611);
        try
        {
            int kills = 0, checkpointsSeen = 0;
            var budget = Stopwatch.StartNew();
            while (kills < 5 && budget.Elapsed.TotalSeconds < 50)
            {
                bool resume = Directory.Exists(Path.Combine(outDir, "checkpoints")) && Directory.EnumerateDirectories(Path.Combine(outDir, "checkpoints"), "checkpoint-*").Any();
                using Process p = Start(resume ? Train(outDir, steps, "--save-every", "2", "--resume") : Train(outDir, steps, "--save-every", "2"), saveDelayMs: 150);
                Thread.Sleep(1000 + rng.Next(2500));
                if (p.HasExited) break;
                _ = kill(p.Id, 9); // the process may already have exited; WaitForExit below is the check
                p.WaitForExit();
                kills++;
                // Every checkpoint folder left behind is complete and readable.
                string root = Path.Combine(outDir, "checkpoints");
                if (!Directory.Exists(root)) continue;
                foreach (string dir in Directory.EnumerateDirectories(root, "checkpoint-*"))
                {
                    foreach (string f in new[] { "adapter_model.safetensors", "adapter_config.json", "optimizer.bin", "rng_state.bin", "trainer_state.json", "metrics.jsonl" })
                        Assert.True(File.Exists(Path.Combine(dir, f)), $"{dir} lacks {f}");
                    checkpointsSeen++;
                }
            }
            output.WriteLine($"{kills} kills, {checkpointsSeen} checkpoint folders checked");
            Assert.True(kills >= 3, $"only {kills} kills landed before the run finished");
            string? latest = Directory.Exists(Path.Combine(outDir, "checkpoints"))
                ? Directory.EnumerateDirectories(Path.Combine(outDir, "checkpoints"), "checkpoint-*").OrderBy(d => d, StringComparer.Ordinal).LastOrDefault()
                : null;
            if (latest is null) { var (c0, _, e0) = CliTests.Run(Train(outDir, steps, "--save-every", "2")); Assert.True(c0 == 0, e0); return; }
            int latestStep = int.Parse(Path.GetFileName(latest).AsSpan("checkpoint-".Length), CultureInfo.InvariantCulture);
            var (code, stdout, stderr) = CliTests.Run(Train(outDir, steps, "--save-every", "2", "--resume"));
            output.WriteLine(stdout + stderr);
            Assert.True(code == 0, stderr);
            if (latestStep < steps) Assert.Contains($"resumed from step {latestStep}", stdout);
            Assert.Equal(Enumerable.Range(1, steps).ToArray(), MetricSteps(outDir));   // every step exactly once, in order
            Assert.Empty(Directory.EnumerateDirectories(Path.Combine(outDir, "checkpoints"), ".checkpoint-*"));
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    [Fact]
    public async System.Threading.Tasks.Task CtrlCSavesACheckpointAndSaysHowToResume()
    {
        string outDir = Temp();
        try
        {
            using Process p = Start(Train(outDir, 10_000));
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            string metrics = Path.Combine(outDir, "metrics.jsonl");
            var wait = Stopwatch.StartNew();
            while (wait.Elapsed.TotalSeconds < 60 && !(File.Exists(metrics) && File.ReadAllLines(metrics).Length >= 2)) Thread.Sleep(100);
            Assert.Equal(0, kill(p.Id, 2));
            string so = await stdout, se = await stderr;
            await p.WaitForExitAsync();
            output.WriteLine(so + se);
            Assert.Equal(130, p.ExitCode);
            Assert.Contains("resume with: moedsl train", so);
            Assert.Contains("--resume", so);
            int last = MetricSteps(outDir).Max();
            Assert.True(Directory.Exists(Path.Combine(outDir, "checkpoints", $"checkpoint-{last:D8}")), $"no checkpoint of step {last}");
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    [Fact]
    public void NonFiniteStepsAreSkippedCountedAndStopTheRunWithoutSavingThem()
    {
        string outDir = Temp();
        try
        {
            var (code, stdout, stderr) = CliTests.Run(Train(outDir, 40, "--lr", "1e30", "--max-non-finite", "3", "--schedule", "constant", "--save-every", "1"));
            output.WriteLine(stdout + stderr);
            Assert.Equal(3, code);
            Assert.Contains("3 consecutive steps had a non-finite loss or gradient", stderr);
            var lines = File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).ToArray();
            Assert.Equal(3, lines.TakeLast(3).Count(n => (bool)n["skipped"]!));
            Assert.False(Directory.Exists(Path.Combine(outDir, "adapter")));
            foreach (string dir in Directory.EnumerateDirectories(Path.Combine(outDir, "checkpoints"), "checkpoint-*"))
            {
                using SafeTensorsFile f = SafeTensorsFile.Open(Path.Combine(dir, "adapter_model.safetensors"));
                foreach (var e in f.Entries)
                {
                    using var t = f.Read(e.Name);
                    Assert.True(t.isfinite().all().item<bool>(), $"{dir}: {e.Name} is not finite");
                }
            }
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    [Theory]
    [InlineData("train --method mixlora --model {tiny} --data embedded --out {out} --resume", "holds no complete checkpoint")]
    [InlineData("train --method mixlora --model {tiny} --data a.jsonl,b.jsonl --task arc --out {out}", "names 2 file(s) but --task names 1")]
    [InlineData("train --method mixlora --model {tiny} --data /nonexistent.jsonl --task arc --out {out}", "/nonexistent.jsonl")]
    [InlineData("train --method nope --model {tiny} --data embedded --out {out}", "unknown --method 'nope'")]
    [InlineData("train --method mixlora --model /no/such/dir --data embedded --out {out}", "/no/such/dir")]
    [InlineData("train --method mixlora --model {tiny} --data embedded --out {out} --schedule wavy", "--schedule must be one of")]
    [InlineData("train --method mixlora --model {tiny} --data embedded --out {out} --eval-every 5", "--eval-every needs --eval-data")]
    [InlineData("train --method mixlora --model {tiny} --data embedded --task nosuch --out {out}", "not an embedded task")]
    [InlineData("eval --method mixlora --model {tiny} --adapter /no/adapter --data embedded", "--adapter '/no/adapter' is not a folder")]
    [InlineData("generate --model {tiny} --adapter x --prompt-ids 1", "--adapter needs --method")]
    [InlineData("inspect --method mola-2468 --model /no/model", "/no/model")]
    public void BadWorkflowArgumentsAreOneLineErrors(string commandLine, string expected)
    {
        string outDir = Temp();
        string[] args = commandLine.Replace("{tiny}", TinyBase.Directory).Replace("{out}", outDir).Split(' ');
        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.NotEqual(0, code);
        string[] lines = stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", stderr + stdout);
    }
}
