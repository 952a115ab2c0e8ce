using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Fuzz;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Runtime.Tests.Fuzz;

/// <summary>Short seeded runs of tools/MoeDsl.Fuzz, one with a fixed seed and one with a seed drawn on every run: every
/// reader sees its valid seeds and a few hundred mutants; the only allowed outcomes are success and
/// <see cref="MoeDsl.Runtime.IO.ModelFormatException"/>.</summary>
public sealed class ReaderFuzzTests
{
    private readonly ITestOutputHelper output;

    public ReaderFuzzTests(ITestOutputHelper output) => this.output = output;

    /// <summary>Inputs per CI run and seed: every reader gets its seeds and about 300 mutants (about 2 s).</summary>
    private const int CiCount = 4500;

    /// <summary>The fixed seed: the same inputs on every run, so a regression shows up as this test failing.</summary>
    public const int FixedSeed = 20261122;

    /// <summary>Names the environment variable that replays a seed in <see cref="Mutated_inputs_with_a_new_seed_each_run"/>.</summary>
    public const string SeedVariable = "MOEDSL_FUZZ_SEED";

    [Fact]
    public void Mutated_inputs_are_read_or_refused_with_the_typed_error() => RunAndCheck(FixedSeed);

    /// <summary>A seed drawn anew on every run (or taken from MOEDSL_FUZZ_SEED to replay one), so that CI keeps exploring
    /// inputs the fixed seed never produces. The seed is printed to the test output and named in the failure message.</summary>
    [Fact]
    public void Mutated_inputs_with_a_new_seed_each_run()
    {
        string? given = Environment.GetEnvironmentVariable(SeedVariable);
        int seed = string.IsNullOrEmpty(given)
            ? System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue)
            : int.Parse(given, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture);
        output.WriteLine($"fuzz seed {seed} ({(string.IsNullOrEmpty(given) ? "random" : "from " + SeedVariable)}); replay: {SeedVariable}={seed} dotnet test"
            + $" --filter {nameof(Mutated_inputs_with_a_new_seed_each_run)}, or tools/MoeDsl.Fuzz --count {CiCount} --seed {seed}");
        RunAndCheck(seed);
    }

    private void RunAndCheck(int seed)
    {
        var failures = new List<FuzzFailure>();
        IReadOnlyList<FuzzCounts> counts = FuzzRunner.Run(count: CiCount, seed: seed, failures.Add);
        foreach (FuzzCounts c in counts)
            output.WriteLine($"{c.Target,-24} inputs {c.Inputs,5}  accepted {c.Accepted,5}  refused {c.Refused,5}  failed {c.Failed}");

        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} inputs ended with an untyped exception (replay with {SeedVariable}={seed}"
            + $" or tools/MoeDsl.Fuzz --count {CiCount} --seed {seed}); first:\n{failures.FirstOrDefault()}");
        Assert.Equal(CiCount, counts.Sum(c => c.Inputs));
        Assert.Equal(22, counts.Count);
        foreach (FuzzCounts c in counts)
        {
            // Each reader accepted its seeds and refused mutants: the run exercised both outcomes.
            Assert.True(c.Accepted > 0, $"seed {seed}: {c.Target} accepted nothing, not even its seeds");
            Assert.True(c.Refused > 0, $"seed {seed}: {c.Target} refused nothing");
        }
    }

    [Fact]
    public void Seeds_are_accepted_unmutated()
    {
        // With as many inputs as seeds, the runner feeds only the seeds: all must be read.
        var failures = new List<FuzzFailure>();
        IReadOnlyList<FuzzCounts> counts = FuzzRunner.Run(count: 22, seed: 1, failures.Add);
        Assert.Empty(failures);
        Assert.All(counts, c => Assert.Equal(c.Inputs, c.Accepted));
    }

    [Fact]
    public void Mutations_are_reproducible_from_the_seed()
    {
        byte[] input = System.Text.Encoding.UTF8.GetBytes("{\"text\": \"abc\", \"n\": [1, 2.5, -3]}");
        byte[][] First(int seed)
        {
            var m = new Mutator(seed);
            return Enumerable.Range(0, 50).Select(_ => m.Mutate(input, input, lengthPrefixed: false)).ToArray();
        }
        Assert.Equal(First(5), First(5));
        Assert.NotEqual(First(5), First(6));
        Assert.True(First(5).Count(x => !x.AsSpan().SequenceEqual(input)) >= 45);
    }
}
