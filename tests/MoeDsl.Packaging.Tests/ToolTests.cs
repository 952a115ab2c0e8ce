using System;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Tests;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Packaging.Tests;

/// <summary>The moedsl .NET tool installed from the local feed (<c>dotnet tool install --tool-path</c>): the command
/// <c>moedsl</c> runs on this host (the native fix applied when packing), trains a few steps and generates with the
/// adapter exactly what the runtime, used directly, generates with it.</summary>
[Collection(nameof(PackageFeedTests))]
[Trait("Category", "Packaging")]
public sealed class ToolTests(PackageFeed feed, ITestOutputHelper output)
{
    [Fact]
    public void TheInstalledToolTrainsAndGenerates()
    {
        string tools = Path.Combine(feed.Root, "tools");
        output.WriteLine(Dotnet.Run(feed.Root, null, "tool", "install", "MoeDsl.Cli", "--version", feed.Version, "--tool-path", tools, "--add-source", feed.Feed));
        string moedsl = Path.Combine(tools, "moedsl");
        Assert.True(File.Exists(moedsl), $"the tool's command {moedsl} is missing");

        Assert.Contains("mixlora", Dotnet.RunProgram(moedsl, feed.Root, null, expectFailure: false, "methods"), StringComparison.Ordinal);

        // A tiny base with a character tokenizer, and text data for it.
        string data = Path.Combine(feed.Root, "text.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 16).Select(i => $"{{\"text\": \"the cat sat on mat {i % 4}\"}}"));
        string run = Path.Combine(feed.Root, "tool-run");
        string train = Dotnet.RunProgram(moedsl, feed.Root, null, expectFailure: false, "train", "--method", "lora", "--model", TinyBase.Directory,
            "--data", data, "--task", "text", "--steps", "3", "--batch-size", "4", "--lr", "1e-2", "--out", run, "--no-plots");
        output.WriteLine(train);
        string adapter = Path.Combine(run, "adapter");
        Assert.True(File.Exists(Path.Combine(adapter, AdapterStore.TensorFile)), train);

        string generated = Dotnet.RunProgram(moedsl, feed.Root, null, expectFailure: false, "generate", "--method", "lora", "--adapter", adapter,
            "--model", TinyBase.Directory, "--prompt-ids", "1", "--max-new-tokens", "12", "--format", "ids");
        string toolIds = generated.TrimEnd().Split('\n').Last().Trim();

        // The oracle: the same adapter on the same base through the runtime in this process.
        using MoeCausalLM model = SpecModel.FromPretrained(TinyBase.Directory, AdapterConfig.Read(Path.Combine(adapter, AdapterStore.ConfigFile)));
        AdapterStore.Load(model, adapter);
        string expected = string.Join(" ", TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 12)));
        Assert.Equal(expected, toolIds);
    }
}
