using System.Linq;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Runtime.Tests.BaseModel;

public sealed class Stories260KTests
{
    [SkippableFact]
    public void GreedyDecodingReproducesLlama2cReferenceIds()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent");
        using var model = PlainCausalLM.FromPretrained(TestPaths.Stories260K);
        var ids = TextGenerator.Generate(model, new long[] { 1 }, new GenerationOptions(MaxNewTokens: 64));
        Assert.Equal(TestPaths.Stories260KGreedy, ids.ToArray());
    }
}
