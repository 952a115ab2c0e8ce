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

public sealed class MoeFeedForwardTests
{
    private readonly ITestOutputHelper output;
    public MoeFeedForwardTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Kinds() => RouterTests.Kinds();

    private static Tensor Silu(Tensor v) => v * v.sigmoid();

    /// <summary>y_t = sum over chosen j of w_j E_j(x_t), E_j(x) = (W_d + s B_dj A_dj) [silu((W_g + s B_gj A_gj) x) * ((W_u + s B_uj A_uj) x)]:
    /// each chosen expert's full SwiGLU computed on its own, W_down applied once per expert (as MixLoRA's reference does).</summary>
    private static Tensor Naive(MoeFeedForward ffn, Tensor x, double s)
    {
        NaiveDecision d = NaiveRouting.Decide(ffn.Router, x);
        Tensor flat = x.reshape(-1, x.shape[^1]);
        Tensor Proj(SharedExpertProjection p, int j, Tensor v) => p.Weight.matmul(v) + s * p.Experts.ExpertB(j).matmul(p.Experts.ExpertA(j).matmul(v));
        var rows = new Tensor[flat.shape[0]];
        for (int t = 0; t < rows.Length; t++)
        {
            Tensor xt = flat[t];
            Tensor y = zeros(x.shape[^1]);
            foreach (int j in d.Chosen[t])
            {
                Tensor h = Silu(Proj(ffn.GateProj, j, xt)) * Proj(ffn.UpProj, j, xt);
                y = y + d.Dense[t][j] * Proj(ffn.DownProj, j, h);
            }
            rows[t] = y;
        }
        return stack(rows).view(x.shape);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void FusedEqualsNaivePerTokenPerExpertReference(string kind)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(51);
        const int hidden = 8, intermediate = 12, e = 5;
        var lora = new LoraSettings(Rank: 2, Alpha: 4, Dropout: 0);
        Router router = RouterTests.Create(kind, hidden, e, g);
        var recorder = new RoutingRecorder();
        using var ffn = new MoeFeedForward(hidden, intermediate, e, lora, router, recorder, layer: 0);
        foreach (var p in new[] { ffn.GateProj, ffn.UpProj, ffn.DownProj })
        {
            Numerics.Randomise(p.Weight, 0.4, g);
            for (int i = 0; i < p.Experts.Count; i++) { Numerics.Randomise(p.Experts.ExpertA(i), 0.4, g); Numerics.Randomise(p.Experts.ExpertB(i), 0.4, g); }
        }
        Tensor x = randn(new long[] { 2, 6, hidden }, generator: g).requires_grad_(true);
        var leaves = new List<(string, Tensor)> { ("x", x) };
        leaves.AddRange(ffn.named_parameters().Where(p => p.parameter.requires_grad && p.name is not ("moe_gate.poisson_lambda" or "moe_gate.normal_sigma")).Select(p => (p.name, (Tensor)p.parameter)));
        foreach (ExpertExecution execution in new[] { ExpertExecution.DenseMasked, ExpertExecution.Grouped, ExpertExecution.Fused })
        {
            ffn.Execution = execution;
            var (value, gradient) = Numerics.AssertSameValueAndGradients(
                () => { Tensor y = ffn.forward(x); recorder.Clear(); return y; },
                () => Naive(ffn, x, lora.Scaling), leaves, seed: 7);
            output.WriteLine($"{kind} {execution}: max |value diff| {value:G3}, max |gradient diff| {gradient:G3} over {leaves.Count} tensors");
        }
    }

    [Fact]
    public void TwoExpertsRankOneByHand()
    {
        using var scope = NewDisposeScope();
        // hidden 2, intermediate 2, W_g = W_u = W_d = I, router W_r = I, x = [1, 0]: probs [0.731059, 0.268941]; alpha 1, r 1.
        // Expert 0: gate LoRA adds [1, 0] -> gate [2, 0]; up [1, 0]; h = [silu(2), 0] = [1.761594, 0];
        //           down LoRA (A = [1, 0], B = [0, 1]^T) adds [0, 1.761594] -> E_0 = [1.761594, 1.761594].
        // Expert 1: gate [1, 0]; up LoRA adds [1, 0] -> up [2, 0]; h = [2 silu(1), 0] = [1.462117, 0]; down LoRA 0 -> E_1 = [1.462117, 0].
        // top-1: y = E_0 = [1.761594, 1.761594]; top-2: y = 0.731059 E_0 + 0.268941 E_1 = [1.681052, 1.287829].
        foreach (var (k, expected) in new[] { (1, new[] { 1.761594f, 1.761594f }), (2, new[] { 1.681052f, 1.287829f }) })
        {
            var router = new TopKRouter(2, 2, k);
            Numerics.Set(router.Weight, 1, 0, 0, 1);
            using var ffn = new MoeFeedForward(2, 2, 2, new LoraSettings(1, 1, 0), router, new RoutingRecorder { Enabled = false }, 0);
            foreach (var p in new[] { ffn.GateProj, ffn.UpProj, ffn.DownProj })
            {
                Numerics.Set(p.Weight, 1, 0, 0, 1);
                for (int e = 0; e < p.Experts.Count; e++) { Numerics.Set(p.Experts.ExpertA(e), 0, 0); Numerics.Set(p.Experts.ExpertB(e), 0, 0); }
            }
            Numerics.Set(ffn.GateProj.Experts.ExpertA(0), 1, 0); Numerics.Set(ffn.GateProj.Experts.ExpertB(0), 1, 0);
            Numerics.Set(ffn.DownProj.Experts.ExpertA(0), 1, 0); Numerics.Set(ffn.DownProj.Experts.ExpertB(0), 0, 1);
            Numerics.Set(ffn.UpProj.Experts.ExpertA(1), 1, 0); Numerics.Set(ffn.UpProj.Experts.ExpertB(1), 1, 0);
            Tensor y = ffn.forward(tensor(new[] { 1f, 0f }).reshape(1, 1, 2));
            Numerics.AssertClose(tensor(expected).reshape(1, 1, 2), y, $"top-{k}", 1e-5);
        }
    }
}
