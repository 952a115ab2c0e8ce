namespace MoeDsl.Generator.Tests;

/// <summary>Tests that run alone, after the parallel ones: they seed torch's global random generator and compare two
/// models built from it, so no other test (every test that builds a model draws from it) may draw in between.</summary>
[CollectionDefinition(nameof(SerialTests), DisableParallelization = true)]
public sealed class SerialTests { }
