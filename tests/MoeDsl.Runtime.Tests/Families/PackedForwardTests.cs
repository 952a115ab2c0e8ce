using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Families;

/// <summary>Sequence packing against the independent reference of running each example alone: on every family's tiny
/// checkpoint (Llama without a window; Mistral, Qwen2/3 and Phi-3 with a window of 8, shorter than the examples; Gemma 2
/// with its soft-capped eager attention and the window on every other layer), two packed rows holding five examples give
/// each example the logits it has alone, and the adapters' gradient of the packed batch's sum-reduced next-token loss is
/// the sum of the five examples' gradients.</summary>
[Collection(nameof(SerialTests))]
public sealed class PackedForwardTests(ITestOutputHelper output)
{
    private static readonly int[] Lengths = { 13, 9, 6, 11, 4 };

    /// <summary>Five examples with some masked labels (a prompt-like span): ids random below the vocabulary.</summary>
    private static List<TokenSequence> Examples(int vocab)
    {
        var rng = new Random(11);
        return Lengths.Select(n =>
        {
            long[] ids = Enumerable.Range(0, n).Select(_ => (long)rng.Next(2, vocab)).ToArray();
            long[] labels = ids.Select((id, j) => j < n / 3 ? LanguageModelLoss.IgnoreIndex : id).ToArray();
            return new TokenSequence(ids, labels);
        }).ToList();
    }

    [Theory]
    [MemberData(nameof(FamilyCheckpoint.All), MemberType = typeof(FamilyCheckpoint))]
    public void Packed_rows_give_each_example_its_own_logits_and_gradient(string modelType)
    {
        using var checkpoint = new FamilyCheckpoint(modelType, forTraining: true);
        random.manual_seed(7);
        using var model = SpecModel.FromPretrained(checkpoint.Directory, StoriesMixLora.Spec);
        using (no_grad())
            foreach (var (_, p) in model.AdapterParameters()) p.normal_(0, 0.05); // LoRA B starts at 0: give every adapter a gradient
        model.eval(); // no dropout; the routers still route per token (their auxiliary losses are batch statistics, not compared here)
        var examples = Examples(model.Config.VocabSize);
        PackedPool packed = SequencePacker.Pack(examples, 24);
        Assert.Equal(new[] { new[] { 13, 11 }, new[] { 9, 6, 4 } }, packed.Rows.Select(r => r.Segments!.ToArray()).ToArray());

        // Alone: each example, one row, no padding; its sum-reduced loss backpropagated, gradients accumulating.
        var alone = new List<Tensor>();
        foreach (TokenSequence e in examples)
        {
            using var batch = TokenBatch.From(new[] { e }, 0);
            using var o = model.Forward(batch.InputIds);
            (LanguageModelLoss.Compute(o.Logits, batch.Labels) * batch.ScoredTokens).backward();
            alone.Add(o.Logits.squeeze(0).detach().MoveToOuterDisposeScope());
        }
        var separate = model.AdapterParameters().ToDictionary(p => p.Name, p => p.Parameter.grad!.clone());
        foreach (var (_, p) in model.AdapterParameters()) p.grad!.zero_();

        using (var batch = TokenBatch.From(packed.Rows, 0))
        {
            Assert.NotNull(batch.Packing);
            using var o = model.Forward(batch.InputIds, tokenMask: batch.Mask, packing: batch.Packing);
            (LanguageModelLoss.Compute(o.Logits, batch.Labels) * batch.ScoredTokens).backward();
            // Where each example sits: row 0 = examples 0, 3; row 1 = examples 1, 2, 4.
            var places = new (int Example, int Row, int Offset)[] { (0, 0, 0), (3, 0, 13), (1, 1, 0), (2, 1, 9), (4, 1, 15) };
            foreach (var (example, row, offset) in places)
            {
                Tensor part = o.Logits[row].narrow(0, offset, Lengths[example]);
                double error = (part - alone[example]).abs().max().item<float>() / alone[example].abs().max().item<float>();
                output.WriteLine($"{modelType}: example {example} (row {row} at {offset}), packed vs alone, max relative logit difference {error:E2}");
                Assert.True(error < 1e-5, $"{modelType}: example {example}'s logits in the packed row differ from its own by {error:E2}");
            }
        }
        double worst = 0;
        foreach (var (name, p) in model.AdapterParameters())
        {
            Tensor expected = separate[name];
            double scale = Math.Max(expected.abs().max().item<float>(), 1e-6);
            double error = (p.grad! - expected).abs().max().item<float>() / scale;
            worst = Math.Max(worst, error);
            Assert.True(error < 1e-4, $"{modelType}: {name}'s gradient of the packed batch differs from the sum of the examples' by {error:E2} (relative)");
        }
        output.WriteLine($"{modelType}: adapter gradients, packed vs sum of alone, worst max relative difference {worst:E2}");
        foreach (Tensor t in alone.Concat(separate.Values)) t.Dispose();
    }
}
