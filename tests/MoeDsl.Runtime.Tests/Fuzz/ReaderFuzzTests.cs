using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Fuzz;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Runtime.Tests.Fuzz;

/// <summary>A short seeded run of tools/MoeDsl.Fuzz: every reader sees its valid seeds and a few hundred mutants;
/// the only allowed outcomes are success and <see cref="MoeDsl.Runtime.IO.ModelFormatException"/>.</summary>
public sealed class ReaderFuzzTests
{
    private readonly ITestOutputHelper output;

    public ReaderFuzzTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void Mutated_inputs_are_read_or_refused_with_the_typed_error()
    {
        var failures = new List<FuzzFailure>();
        IReadOnlyList<FuzzCounts> counts = FuzzRunner.Run(count: 4500, seed: 20261122, failures.Add);
        foreach (FuzzCounts c in counts)
            output.WriteLine($"{c.Target,-24} inputs {c.Inputs,5}  accepted {c.Accepted,5}  refused {c.Refused,5}  failed {c.Failed}");

        Assert.True(failures.Count == 0, $"{failures.Count} inputs ended with an untyped exception; first:\n{failures.FirstOrDefault()}");
        Assert.Equal(4500, counts.Sum(c => c.Inputs));
        Assert.Equal(15, counts.Count);
        foreach (FuzzCounts c in counts)
        {
            // Each reader accepted its seeds and refused mutants: the run exercised both outcomes.
            Assert.True(c.Accepted > 0, $"{c.Target} accepted nothing, not even its seeds");
            Assert.True(c.Refused > 0, $"{c.Target} refused nothing");
        }
    }

    [Fact]
    public void Seeds_are_accepted_unmutated()
    {
        // With as many inputs as seeds, the runner feeds only the seeds: all must be read.
        var failures = new List<FuzzFailure>();
        IReadOnlyList<FuzzCounts> counts = FuzzRunner.Run(count: 15, seed: 1, failures.Add);
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
