using System;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Tests;

namespace MoeDsl.Runtime.Tests;

/// <summary>Builds the test declarations on stories260K when present, else on a random base of the same shape.</summary>
internal static class TestModels
{
    public static readonly LlamaConfig StoriesShape = new(64, 172, 5, 8, 4, 512, 1e-5, 10000, TieWordEmbeddings: true, MaxPositionEmbeddings: 512);

    public static T Build<T>(Func<string, T> fromPretrained, Func<LlamaConfig, T> create) where T : MoeCausalLM
        => TestPaths.HasStories260K ? fromPretrained(TestPaths.Stories260K) : create(StoriesShape);
}
