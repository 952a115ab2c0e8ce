using System;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Runtime.Native;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using MoeDsl.Runtime.Experts;

namespace MoeDsl.Runtime.Tests.Native;

[Collection(nameof(SerialTests))]   // torch's global generator: the bf16-cast test seeds it and draws the adapters and ids from it
public sealed class DeviceSelectionTests
{
    [Fact]
    public void CpuAndAutoFollowWhatTheProcessHas()
    {
        Assert.Equal(DeviceType.CPU, DeviceSelection.Pick("cpu").type);
        Assert.Equal(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, DeviceSelection.Pick("auto").type);
        Assert.Equal(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, DeviceSelection.Pick(null).type);
    }

    [SkippableFact]
    public void CudaRequestWithCudaPicksCuda()
    {
        Skip.IfNot(cuda.is_available(), "this process has no CUDA device");
        Assert.Equal(DeviceType.CUDA, DeviceSelection.Pick("cuda:0").type);
    }

    [SkippableFact]
    public void CudaRequestWithoutCudaSaysHowToGetIt()
    {
        Skip.If(cuda.is_available(), "this process has a CUDA device");
        var e = Assert.Throws<InvalidOperationException>(() => DeviceSelection.Pick("cuda"));
        Assert.Contains("-p:TorchBackend=cuda", e.Message);
        Assert.Contains(LibTorchLoader.EnvironmentVariable, e.Message);
    }

    [Theory]
    [InlineData("tpu")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    public void UnknownDevicesAreRejected(string request)
    {
        var e = Assert.Throws<ArgumentException>(() => DeviceSelection.Pick(request));
        Assert.Contains(request, e.Message);
    }

    [Fact]
    public void BaseDtypeIsBf16OnlyOnCuda()
    {
        Assert.Equal(ScalarType.Float32, DeviceSelection.BaseDtype(CPU));
        Assert.Equal(ScalarType.BFloat16, DeviceSelection.BaseDtype(new Device(DeviceType.CUDA, 0)));
    }

    [Fact]
    public void CastBaseMakesOnlyTheFrozenBaseBf16AndTheModelStillRuns()
    {
        var config = new LlamaConfig(64, 160, 2, 4, 2, 97);
        var spec = new ModelSpec
        {
            Name = "mix", Placement = ExpertPlacement.FeedForward, Router = new TopKRouterSettings(), Targets = LoraTargets.All, Alpha = 16,
            Groups = new[] { new ExpertGroup(Experts: 4, TopK: 2, Rank: 8) },
            Layers = 2, Hidden = 64, Intermediate = 160, Heads = 4, KvHeads = 2, Vocab = 97,
        };
        manual_seed(11);
        using var model = SpecModel.Create(config, spec);
        model.eval();
        using (no_grad())
            foreach (var (_, p) in model.AdapterParameters()) nn.init.normal_(p, 0, 0.05);
        using Tensor ids = randint(0, 97, new long[] { 2, 12 }, dtype: ScalarType.Int64);
        using Tensor reference = model.Forward(ids).Logits.detach().clone();
        var adapterBefore = model.AdapterParameters().Select(p => p.Parameter.Handle).ToArray();
        var mlpBefore = Assert.IsType<MoeFeedForward>(model.Model.Layers[0].Mlp);
        using Tensor expertA = mlpBefore.GateProj.Experts.ExpertA(0).detach().clone();

        DeviceSelection.CastBase(model, ScalarType.BFloat16);

        Assert.All(model.BaseParameters(), p => Assert.Equal(ScalarType.BFloat16, p.Parameter.dtype));
        Assert.All(model.AdapterParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
        Assert.Equal(adapterBefore, model.AdapterParameters().Select(p => p.Parameter.Handle).ToArray());
        // The modules see the cast weights through their own fields, not only through the parameter registry.
        var mlp = Assert.IsType<MoeFeedForward>(model.Model.Layers[0].Mlp);
        Assert.Equal(ScalarType.BFloat16, mlp.GateProj.Weight.dtype);
        Assert.Equal(ScalarType.Float32, mlp.GateProj.Experts.ExpertA(0).dtype);
        Assert.False(mlp.GateProj.Weight.requires_grad);
        Assert.Equal(0f, (mlp.GateProj.Experts.ExpertA(0) - expertA).abs().max().item<float>());

        using Tensor logits = model.Forward(ids).Logits;
        Tensor diff = (logits.to(ScalarType.Float32) - reference).abs().max();
        double scale = reference.abs().max().item<float>();
        // bf16 keeps 8 bits of mantissa: the logits move, but by far less than their size.
        Assert.True(diff.item<float>() < 0.05 * scale + 1e-3, $"bf16 base moved the logits by {diff.item<float>()} (max |logit| {scale})");
        Assert.True(diff.item<float>() > 0, "the cast changed nothing: the forward did not use the bf16 weights");
    }
}
