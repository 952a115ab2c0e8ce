using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Benchmarks;

/// <summary><c>graph_vs_topk_layer</c>: forward + backward of one MixLoRA decoder layer with the Graph router over the
/// same layer with the TopK router.</summary>
internal static class GraphVsTopkLayer
{
    public static void Run(Options options, Report report)
    {
        LlamaConfig c = options.Shape.Config;
        var recorder = new RoutingRecorder { Enabled = false };
        // Both layers as the generated code builds them (ModelBuilder.Layer: LoRA r=16 on q/k/v/o, MixLoRA FFN 8 experts
        // top-2 r=16, dropout 0.05), same seed, differing only in the router.
        manual_seed(5);
        using LlamaDecoderLayer graph = ModelBuilder.Layer(Specs.MixLora(c, RouterKind.Graph).ShapedTo(c), c, 0, recorder);
        manual_seed(5);
        using LlamaDecoderLayer topk = ModelBuilder.Layer(Specs.MixLora(c).ShapedTo(c), c, 0, recorder);
        graph.train();
        topk.train();
        long l = options.Shape.SequenceLength;
        var (cos, sin) = new RotaryEmbedding(c.HeadDim, c.RopeTheta).Tables(0, l, CPU);
        var ctx = new AttentionContext(cos, sin, null);
        using Tensor x = randn(options.Shape.Batch, l, c.HiddenSize).requires_grad_(true);
        double Time(LlamaDecoderLayer layer) => Measure.Milliseconds(
            () => layer.forward(x, ctx).sum().backward(),
            () => { layer.zero_grad(); x.grad?.zero_(); });
        var (mg, mt, ratio, _) = Measure.Interleave(options, () => Time(graph), () => Time(topk), Measure.LayerRepsFactor);
        report.Add(new Figure("graph_vs_topk_layer", "MixLoRA layer, Graph router", "MixLoRA layer, TopK router", mg, mt, ratio, "ms fwd+bwd", "<= 1.10"));
        cos.Dispose();
        sin.Dispose();
    }
}
