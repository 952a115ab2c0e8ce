using System;
using System.Linq;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Modeling;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Families;

/// <summary>Each family's decoder against an independent implementation: a float64 PyTorch forward written from Hugging
/// Face's modeling code (tests/References/families/reference.py; its outputs are committed, so this test needs neither
/// Python nor PyTorch). The checkpoint is the repo tool's tiny random one of that family, checked byte for byte (SHA-256)
/// against the one the oracle read.</summary>
public sealed class FamilyOracleTests(ITestOutputHelper output)
{
    /// <summary>fp32 logits against the float64 oracle: max |ours - oracle| / max |oracle| over every position.</summary>
    private const double Tolerance = 1e-4;

    [Theory]
    [MemberData(nameof(FamilyCheckpoint.All), MemberType = typeof(FamilyCheckpoint))]
    public void Logits_and_32_greedy_ids_equal_the_pytorch_reference(string modelType)
    {
        var reference = OracleReference.Load(modelType);
        using var checkpoint = new FamilyCheckpoint(modelType);
        Assert.Equal(reference.CheckpointSha256, checkpoint.Sha256());
        using var model = PlainCausalLM.FromPretrained(checkpoint.Directory);
        Assert.Equal(checkpoint.Config, model.Config); // config.json read back as written

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            using var result = model.Forward(tensor(reference.Prompt, dtype: ScalarType.Int64).unsqueeze(0));
            double[] ours = result.Logits.squeeze(0).to(ScalarType.Float64).data<double>().ToArray();
            double[] expected = reference.Logits.SelectMany(r => r).ToArray();
            Assert.Equal(expected.Length, ours.Length);
            double scale = expected.Max(Math.Abs);
            double error = expected.Zip(ours, (e, o) => Math.Abs(e - o)).Max() / scale;
            output.WriteLine($"{modelType}: max |logit error| / max |logit| = {error:E2} (max |logit| {scale:F3}); oracle: {reference.Oracle}");
            Assert.True(error <= Tolerance, $"{modelType}: relative logit error {error:E2} > {Tolerance:E0}");
        }

        // Greedy decoding uses the KV cache (and the sliding window through it); the oracle recomputes everything per token.
        var ids = TextGenerator.Generate(model, reference.Prompt, new GenerationOptions(MaxNewTokens: 32));
        Assert.Equal(reference.Greedy, ids.ToArray());
        Assert.True(reference.Greedy.Distinct().Count() >= 10, $"{modelType}: the reference continuation repeats itself; the tool's weights are too weak");
    }
}
