using System;
using System.IO;

namespace MoeDsl.Tests;

/// <summary>Locations of shared test inputs.</summary>
internal static class TestPaths
{
    /// <summary>The repository root (the folder holding MoeDsl.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared/models/stories260K beside the repository, or MOEDSL_STORIES260K.</summary>
    public static string Stories260K { get; } =
        Environment.GetEnvironmentVariable("MOEDSL_STORIES260K") is { Length: > 0 } env ? env : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models", "stories260K"));

    /// <summary>True when the stories260K checkpoint is present.</summary>
    public static bool HasStories260K => File.Exists(Path.Combine(Stories260K, "model.safetensors"));

    /// <summary>The 64 greedy ids llama2.c's run.c produces from BOS (from the checkpoint's README).</summary>
    public static readonly long[] Stories260KGreedy =
    {
        461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299, 362, 409, 283, 264, 283, 452, 288, 13, 431, 431, 431, 431, 431, 431, 431, 431,
        431, 431, 431, 431, 431, 293, 430, 417, 363, 416, 315, 342, 418, 424, 400, 442, 402, 303, 266, 299, 374, 466, 396, 303, 271, 362, 390, 469,
        306, 469, 423, 314, 347, 305, 356, 333,
    };

    private static string FindRepoRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "MoeDsl.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("MoeDsl.sln not found above " + AppContext.BaseDirectory);
    }
}
