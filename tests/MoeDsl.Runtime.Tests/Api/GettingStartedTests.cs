using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Training;
using MoeDsl.Tests;
using MyProject;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Api;

/// <summary>docs/getting-started.md shows docs/getting-started/GettingStarted.cs verbatim; this project compiles that
/// file and runs it on the tiny base, so the document cannot drift from code that builds and works.</summary>
[Collection(nameof(SerialTests))]   // torch's global generator
public sealed class GettingStartedTests
{
    private static readonly string Doc = Path.Combine(TestPaths.RepoRoot, "docs", "getting-started.md");
    private static readonly string Program = Path.Combine(TestPaths.RepoRoot, "docs", "getting-started", "GettingStarted.cs");

    [Fact]
    public void TheDocumentShowsTheCompiledProgramVerbatim()
    {
        string doc = File.ReadAllText(Doc).ReplaceLineEndings("\n");
        const string Marker = "<!-- the file docs/getting-started/GettingStarted.cs, verbatim (a test compares them) -->\n```csharp\n";
        int start = doc.IndexOf(Marker, StringComparison.Ordinal);
        Assert.True(start >= 0, "getting-started.md lost the marker before the program");
        start += Marker.Length;
        int end = doc.IndexOf("```\n", start, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Program).ReplaceLineEndings("\n"), doc[start..end]);
    }

    /// <summary>The README's first screen shows <c>dotnet add package</c>, a declaration and the calls of this program:
    /// every API call of its first C# block (receiver and method) is one the compiled program makes.</summary>
    [Fact]
    public void TheReadmeFirstScreenMakesTheProgramsCalls()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")).ReplaceLineEndings("\n");
        int start = readme.IndexOf("```csharp\n", StringComparison.Ordinal);
        Assert.InRange(start, 0, 2500);   // on the first screen
        Assert.Contains("dotnet add package MoeDsl", readme[..start], StringComparison.Ordinal);
        string block = readme[(start + 10)..readme.IndexOf("```\n", start + 10, StringComparison.Ordinal)];
        Assert.Contains("[MoeModel", block, StringComparison.Ordinal);
        var call = new Regex(@"\b[A-Za-z]+\.(FromPretrained|FromJsonl|FineTune|SaveAdapter|Generate)\(");
        string[] shown = call.Matches(block).Select(m => m.Value).ToArray();
        Assert.Equal(new[] { "MyMixLora.FromPretrained(", "TrainingData.FromJsonl(", "model.FineTune(", "model.SaveAdapter(", "model.Generate(" }, shown);
        string[] made = call.Matches(File.ReadAllText(Program)).Select(m => m.Value).ToArray();
        Assert.Equal(shown, made);
    }

    [Fact]
    public void TheProgramTrainsSavesAndGeneratesOnTheTinyBase()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-getting-started-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(root);
            string train = Path.Combine(root, "train.jsonl");
            File.WriteAllLines(train, from a in Enumerable.Range(0, 10)
                                      from b in Enumerable.Range(0, 10)
                                      where a + b < 10
                                      select new JsonObject { ["prompt"] = $"{a}+{b}=", ["completion"] = (a + b).ToString(CultureInfo.InvariantCulture) }.ToJsonString());
            string output = Path.Combine(root, "run");

            random.manual_seed(1);
            string text = GettingStarted.Run(TinyBase.Directory, train, output);

            // It trained: the LM loss fell (the first step against the mean of the last five; 4.14 -> 3.78 when written), every
            // step recorded.
            double[] losses = File.ReadAllLines(Path.Combine(output, TrainingRun.MetricsFile)).Select(l => JsonNode.Parse(l)!.AsObject())
                .Where(o => o["loss"] is not null).Select(o => o["loss"]!.GetValue<double>()).ToArray();
            Assert.Equal(40, losses.Length);
            Assert.True(losses[^5..].Average() < losses[0] - 0.2, $"loss {losses[0]:F3} -> {losses[^5..].Average():F3}");
            // Checkpoints every 20 steps, the run's adapter and the saved copy hold the same tensors.
            Assert.True(Directory.Exists(Path.Combine(TrainingCheckpoint.Root(output), "checkpoint-00000020")));
            Assert.True(Directory.Exists(Path.Combine(TrainingCheckpoint.Root(output), "checkpoint-00000040")));
            string saved = Path.Combine(output, "my-adapter");
            Assert.Equal(File.ReadAllBytes(Path.Combine(output, TrainingRun.AdapterFolder, AdapterStore.TensorFile)), File.ReadAllBytes(Path.Combine(saved, AdapterStore.TensorFile)));

            // The saved adapter, loaded into a fresh model of the declaration, continues the prompt the same way.
            using var reloaded = MyMixLora.FromPretrained(TinyBase.Directory);
            reloaded.LoadAdapter(saved);
            Assert.Equal(text, reloaded.Generate("2+3="));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }
}
