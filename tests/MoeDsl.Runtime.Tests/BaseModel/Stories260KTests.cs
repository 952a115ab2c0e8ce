using System;
using System.Linq;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using Xunit;
using Xunit.Abstractions;

namespace MoeDsl.Runtime.Tests.BaseModel;

public sealed class Stories260KTests
{
    private readonly ITestOutputHelper output;
    public Stories260KTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void GreedyDecodingReproducesLlama2cReferenceIds()
    {
        if (!TestPaths.HasStories260K) { output.WriteLine($"SKIPPED: {TestPaths.Stories260K} is absent"); return; }
        using var model = PlainCausalLM.FromPretrained(TestPaths.Stories260K);
        var ids = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 64));
        Assert.Equal(TestPaths.Stories260KGreedy, ids.ToArray());
    }
}
