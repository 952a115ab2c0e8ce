using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Runtime.Tests.Families;

/// <summary>One family's tiny checkpoint written by the repo's tool into a temporary folder, and the independent
/// oracle's outputs for it (tests/References/families/FAMILY.json, made by reference.py).</summary>
internal sealed class FamilyCheckpoint : IDisposable
{
    private readonly IO.TempFolder folder = new();

    /// <summary>The oracle's checkpoint; <paramref name="forTraining"/>: the same family and shape with full-size tied
    /// embeddings and Gemma 2's default final soft cap (30), since the oracle checkpoint's tiny tied rows and cap of 0.2
    /// bound its logits to a few tenths, and so the loss any training can reach.</summary>
    public FamilyCheckpoint(string modelType, bool forTraining = false)
    {
        Family = ModelFamily.ForModelType(modelType) ?? throw new ArgumentException(modelType);
        Config = FamilyShapes.Tiny(Family);
        if (forTraining && Config.FinalSoftCap is not null) Config = Config with { FinalSoftCap = 30.0 };
        CheckpointWriter.Write(Config, folder.Path, tiedEmbeddingScale: forTraining ? 1f : 0.1f);
    }

    public ModelFamily Family { get; }
    public LlamaConfig Config { get; }
    public string Directory => folder.Path;

    /// <summary>SHA-256 of the written model.safetensors (hex).</summary>
    public string Sha256() => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(Directory, "model.safetensors"))));

    public void Dispose() => folder.Dispose();

    /// <summary>The seven families by model_type (xunit theory data).</summary>
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (ModelFamily f in ModelFamily.All) data.Add(f.ModelType);
        return data;
    }
}

/// <summary>The oracle's output for one family.</summary>
internal sealed record OracleReference(string Oracle, string CheckpointSha256, long[] Prompt, double[][] Logits, long[] Greedy, double MinGreedyMargin)
{
    public static OracleReference Load(string modelType)
    {
        string path = Path.Combine(TestPaths.RepoRoot, "tests", "References", "families", modelType + ".json");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement r = doc.RootElement;
        return new OracleReference(
            r.GetProperty("oracle").GetString()!,
            r.GetProperty("checkpoint_sha256").GetString()!,
            r.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
            r.GetProperty("logits").EnumerateArray().Select(row => row.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray(),
            r.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
            r.GetProperty("min_greedy_margin").GetDouble());
    }
}
