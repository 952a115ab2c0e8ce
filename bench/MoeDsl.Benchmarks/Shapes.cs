using System;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;

namespace MoeDsl.Benchmarks;

/// <summary>The base shape and token count of one benchmark run.</summary>
internal sealed record BenchShape(string Label, LlamaConfig Config, int Batch, int SequenceLength)
{
    /// <summary>Tokens per step.</summary>
    public int Tokens => Batch * SequenceLength;

    /// <summary>The full LLaMA-like benchmark shape: hidden 1024, intermediate 2816, 16 heads, 4 layers, vocab 32000, 2,048 tokens.</summary>
    public static BenchShape Full => new("full (issue #5 shape)",
        new LlamaConfig(1024, 2816, 4, 16, 16, 32000, MaxPositionEmbeddings: 4096), 4, 512);

    /// <summary>Scaled down so that every figure fits in minutes on a small CPU: every width halved, vocab / 4, tokens / 8.
    /// The LoRA / MoE parts keep the full shape's settings (8 experts, top-2, r=16), so their share of the FLOPs is about
    /// twice what it is at the full shape: the quick ratios are an upper bound of the full-shape ones.</summary>
    public static BenchShape Quick => new("quick (scaled down from the issue's 1024/2816/16/32000/2048 by 2 in width, 4 in vocab, 8 in tokens)",
        new LlamaConfig(512, 1408, 4, 8, 8, 8000, MaxPositionEmbeddings: 4096), 2, 128);

    /// <summary>One line describing the shape.</summary>
    public string Describe()
        => $"{Label}: hidden {Config.HiddenSize}, intermediate {Config.IntermediateSize}, heads {Config.NumAttentionHeads}, layers {Config.NumHiddenLayers}, " +
           $"vocab {Config.VocabSize} (embeddings + untied head), tokens/step {Tokens} ({Batch} x {SequenceLength})";
}

/// <summary>The declarations compared, as <see cref="ModelSpec"/>s (what the generator would emit).</summary>
internal static class Specs
{
    private static ModelSpec Base(LlamaConfig c, string name) => new()
    {
        Name = name, Layers = c.NumHiddenLayers, Hidden = c.HiddenSize, Intermediate = c.IntermediateSize, Heads = c.NumAttentionHeads,
        KvHeads = c.NumKeyValueHeads, Vocab = c.VocabSize, Dropout = 0.05,
    };

    /// <summary>Plain LoRA of rank r on all seven projections.</summary>
    public static ModelSpec Lora(LlamaConfig c, int rank) => Base(c, $"LoRA r={rank}") with
    {
        Placement = ExpertPlacement.FeedForward,
        Targets = LoraTargets.All,
        Alpha = 2 * rank,
        Groups = new[] { new ExpertGroup(0, 0, rank) },
    };

    /// <summary>MixLoRA: 8 experts top-2 r=16 in the FFN, plain LoRA r=16 on q/k/v/o, Mixtral load-balance loss 0.01.</summary>
    public static ModelSpec MixLora(LlamaConfig c, RouterKind router = RouterKind.TopK) => Base(c, router == RouterKind.TopK ? "MixLoRA 8x top-2 r=16" : $"MixLoRA 8x {router} r=16") with
    {
        Placement = ExpertPlacement.FeedForward,
        Router = router == RouterKind.Graph ? new GraphRouterSettings() : new TopKRouterSettings(),
        Targets = LoraTargets.All,
        Alpha = 32,
        Groups = new[] { new ExpertGroup(Experts: 8, TopK: 2, Rank: 16) },
        LoadBalance = 0.01,
    };

    /// <summary>MoLA 2-4-6-8 (inverted triangle), every projection, top-2, r=8.</summary>
    public static ModelSpec Mola2468(LlamaConfig c) => Base(c, "MoLA 2-4-6-8 top-2 r=8") with
    {
        Placement = ExpertPlacement.EveryProjection,
        Router = new TopKRouterSettings(),
        Targets = LoraTargets.All,
        Alpha = 16,
        Groups = new[] { 2, 4, 6, 8 }.Select(e => new ExpertGroup(Experts: e, TopK: 2, Rank: 8)).ToArray(),
    };

    /// <summary>Builds a model; throws <see cref="NotSupportedException"/> when this runtime lacks the router.</summary>
    public static SpecModel Build(LlamaConfig c, ModelSpec spec, long seed)
    {
        TorchSharp.torch.manual_seed(seed);
        return SpecModel.Create(c, spec);
    }
}
