using Xunit;

namespace MoeDsl.Runtime.Tests;

/// <summary>Tests that run alone, after the parallel ones: they read process-wide state (resident memory) or need
/// torch's global random generator to themselves (same seed, same draws).</summary>
[CollectionDefinition(nameof(SerialTests), DisableParallelization = true)]
public sealed class SerialTests { }
