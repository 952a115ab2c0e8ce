using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Tests.Routing;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using MoeDsl.Runtime.Experts;

namespace MoeDsl.Runtime.Tests.Experts;

public sealed class MoeLoraLinearTests
{
    private readonly ITestOutputHelper output;
    public MoeLoraLinearTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Kinds() => RouterTests.Kinds();

    /// <summary>h_t = W x_t + sum over chosen i of w_i (alpha / r) B_i (A_i x_t), token by token, expert by expert.</summary>
    private static Tensor Naive(MoeLoraLinear layer, Tensor x, double scaling)
    {
        NaiveDecision d = NaiveRouting.Decide(layer.Router, x);
        Tensor flat = x.reshape(-1, x.shape[^1]);
        var rows = new Tensor[flat.shape[0]];
        for (int t = 0; t < rows.Length; t++)
        {
            Tensor xt = flat[t];
            Tensor h = layer.Weight.matmul(xt);
            foreach (int i in d.Chosen[t])
                h = h + d.Dense[t][i] * scaling * layer.Experts.ExpertB(i).matmul(layer.Experts.ExpertA(i).matmul(xt));
            rows[t] = h;
        }
        return stack(rows).view(x.shape[0], x.shape[1], -1);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void FusedEqualsNaivePerTokenReference(string kind)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(41);
        const int din = 8, dout = 6, e = 5;
        var lora = new LoraSettings(Rank: 3, Alpha: 6, Dropout: 0);
        Router router = RouterTests.Create(kind, din, e, g);
        var recorder = new RoutingRecorder();
        using var layer = new MoeLoraLinear(din, dout, e, lora, router, recorder, layer: 0, site: "q_proj");
        Numerics.Randomise(layer.Weight, 0.5, g);
        for (int i = 0; i < layer.Experts.Count; i++) { Numerics.Randomise(layer.Experts.ExpertA(i), 0.5, g); Numerics.Randomise(layer.Experts.ExpertB(i), 0.5, g); }
        Tensor x = randn(new long[] { 2, 6, din }, generator: g).requires_grad_(true);
        var leaves = new List<(string, Tensor)> { ("x", x) };
        leaves.AddRange(layer.named_parameters().Where(p => p.parameter.requires_grad && p.name is not ("moe_gate.poisson_lambda" or "moe_gate.normal_sigma")).Select(p => (p.name, (Tensor)p.parameter)));
        var (value, gradient) = Numerics.AssertSameValueAndGradients(
            () => { Tensor y = layer.forward(x); recorder.Clear(); return y; },
            () => Naive(layer, x, lora.Scaling), leaves, seed: 6);
        output.WriteLine($"{kind}: max |value diff| {value:G3}, max |gradient diff| {gradient:G3} over {leaves.Count} tensors");
    }

    [Fact]
    public void TwoExpertsRankOneByHand()
    {
        using var scope = NewDisposeScope();
        // W = I, router W_r = I, x = [2, 1]: probs softmax([2, 1]) = [0.731059, 0.268941].
        // A_0 = [1, 1], B_0 = [1, 0]^T, A_1 = [1, -1], B_1 = [0, 1]^T; alpha 2, r 1 -> scaling 2.
        // top-1: expert 0 with weight 1: h = [2, 1] + 2 * [3, 0] = [8, 1].
        // top-2: h = [2, 1] + 0.731059 * [6, 0] + 0.268941 * [0, 2] = [6.386351, 1.537883].
        foreach (var (k, expected) in new[] { (1, new[] { 8f, 1f }), (2, new[] { 6.386351f, 1.537883f }) })
        {
            var router = new TopKRouter(2, 2, k);
            Numerics.Set(router.Weight, 1, 0, 0, 1);
            using var layer = new MoeLoraLinear(2, 2, 2, new LoraSettings(1, 2, 0), router, new RoutingRecorder { Enabled = false }, 0, "q_proj");
            Numerics.Set(layer.Weight, 1, 0, 0, 1);
            Numerics.Set(layer.Experts.ExpertA(0), 1, 1);
            Numerics.Set(layer.Experts.ExpertB(0), 1, 0);
            Numerics.Set(layer.Experts.ExpertA(1), 1, -1);
            Numerics.Set(layer.Experts.ExpertB(1), 0, 1);
            Tensor h = layer.forward(tensor(new[] { 2f, 1f }).reshape(1, 1, 2));
            Numerics.AssertClose(tensor(expected).reshape(1, 1, 2), h, $"top-{k}", 1e-5);
        }
    }
}
