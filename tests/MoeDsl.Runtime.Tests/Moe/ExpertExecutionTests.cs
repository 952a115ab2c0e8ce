using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Moe;
using MoeDsl.Runtime.Routing;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Moe;

public sealed class ExpertExecutionTests
{
    /// <summary>Grouped and dense-masked execution compute one function: outputs and gradients agree, and both match a
    /// per-token loop over the chosen experts written here with the MixLoRA formula.</summary>
    [Fact]
    public void GroupedDenseMaskedAndPerTokenLoopAgree()
    {
        manual_seed(21);
        int d = 12, inter = 20, experts = 4, rank = 3;
        var ffn = new MoeFeedForward(d, inter, experts, new LoraSettings(rank, 6, 0), new TopKRouter(d, experts, 2), new RoutingRecorder { Enabled = false }, 0);
        using (no_grad())
            foreach (var (_, p) in ffn.named_parameters()) if (p.requires_grad) nn.init.normal_(p, 0, 0.3);
        ffn.train();
        using Tensor x = randn(2, 5, d);

        (Tensor Y, Tensor GradA) Run(ExpertExecution mode)
        {
            ffn.Execution = mode;
            ffn.zero_grad();
            Tensor y = ffn.forward(x);
            (y * y).sum().backward();
            return (y.detach(), ffn.DownProj.Experts[1].A.grad!.clone());
        }
        var (yDense, gDense) = Run(ExpertExecution.DenseMasked);
        var (yGrouped, gGrouped) = Run(ExpertExecution.Grouped);
        Assert.True((yDense - yGrouped).abs().max().item<float>() < 1e-5f);
        Assert.True((gDense - gGrouped).abs().max().item<float>() < 1e-4f);
        Assert.True(gDense.abs().max().item<float>() > 0, "expert 1's down A got no gradient: the test routes nothing to it");

        // Per token: sum over its top-2 experts of w_j (W_d + s B_d A_d) silu((W_g + s B_g A_g) x) * ((W_u + s B_u A_u) x).
        using var _ = no_grad();
        RoutingDecision decision = ffn.Router.forward(x);
        Tensor xt = x.reshape(10, d);
        double s = 6.0 / rank;
        Tensor Full(SharedExpertProjection p, int e) => p.Weight + s * p.Experts[e].B.matmul(p.Experts[e].A);
        for (int t = 0; t < 10; t++)
        {
            Tensor expected = zeros(d);
            for (int j = 0; j < 2; j++)
            {
                int e = (int)decision.Experts[t, j].item<long>();
                float w = decision.Weights[t, j].item<float>();
                Tensor h = nn.functional.silu(Full(ffn.GateProj, e).matmul(xt[t])) * Full(ffn.UpProj, e).matmul(xt[t]);
                expected = expected + w * Full(ffn.DownProj, e).matmul(h);
            }
            Assert.True((yDense.reshape(10, d)[t] - expected).abs().max().item<float>() < 1e-4f, $"token {t}");
        }
    }
}
