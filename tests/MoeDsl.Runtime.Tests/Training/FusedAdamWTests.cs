using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Kernels;
using MoeDsl.Runtime.Training;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Training;

public sealed class FusedAdamWTests
{
    // 1, 7 and 33 elements: the scalar tail; 20,000: two 16K chunks (the parallel split when torch has 2+ threads).
    private static readonly long[][] Shapes = { new long[] { 1 }, new long[] { 7 }, new long[] { 3, 11 }, new long[] { 8, 4 }, new long[] { 100, 200 } };

    private static List<Parameter> MakeParameters(ulong seed)
    {
        using var g = new Generator(seed);
        return Shapes.Select(s => new Parameter(randn(s, generator: g))).ToList();
    }

    private static void SetGradients(List<Parameter> parameters, int step, bool skipLast)
    {
        using var g = new Generator(1000 + (ulong)step);
        for (int i = 0; i < parameters.Count; i++)
        {
            Tensor grad = randn(parameters[i].shape, generator: g) * (i + 1);
            if (skipLast && i == parameters.Count - 1) { parameters[i].grad = null; continue; }
            parameters[i].grad = grad;
        }
    }

    private static List<AdamW.ParamGroup> Groups(List<Parameter> p) => new()
    {
        new(p.Take(3), new AdamW.Options { weight_decay = 0.01, beta1 = 0.9, beta2 = 0.999, LearningRate = 3e-3 }),
        new(p.Skip(3), new AdamW.Options { weight_decay = 0.0, beta1 = 0.8, beta2 = 0.99, LearningRate = 1e-2 }),
    };

    /// <summary>Ten steps with two groups (different lr, decay, betas), a parameter without a gradient on odd steps and a
    /// learning-rate change: parameters and both moments equal TorchSharp's AdamW within fp32 rounding, and the fused
    /// kernel (not the fallback) ran.</summary>
    [Fact]
    public void MatchesTorchSharpAdamW()
    {
        List<Parameter> fusedParams = MakeParameters(7), refParams = MakeParameters(7);
        using var fused = optim.AdamW(Groups(fusedParams));
        using var reference = optim.AdamW(Groups(refParams));
        for (int step = 1; step <= 10; step++)
        {
            if (step == 6)
                foreach (var opt in new AdamW[] { fused, reference })
                    foreach (var group in opt.ParamGroups) group.LearningRate = group.LearningRate * 0.5;
            SetGradients(fusedParams, step, skipLast: step % 2 == 1);
            SetGradients(refParams, step, skipLast: step % 2 == 1);
            Assert.Equal(ExpertKernels.Accelerated, FusedAdamW.Step(fused));   // fused where AVX2/FMA exist
            reference.step();
        }
        for (int i = 0; i < fusedParams.Count; i++)
        {
            double scale = refParams[i].abs().max().item<float>();
            double diff = (fusedParams[i] - refParams[i]).abs().max().item<float>();
            Assert.True(diff <= 2e-6 * Math.Max(1, scale), $"parameter {i}: max |diff| {diff:E3}");
        }
        // The moments, through TorchSharp's own state file (the fused optimizer keeps AdamW's format).
        string dir = Path.Combine(Path.GetTempPath(), "moedsl-fused-adamw-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            fused.save_state_dict(Path.Combine(dir, "fused.bin"));
            reference.save_state_dict(Path.Combine(dir, "reference.bin"));
            var fusedState = fused.state_dict().State.Cast<AdamW.State>().ToList();
            var refState = reference.state_dict().State.Cast<AdamW.State>().ToList();
            for (int i = 0; i < fusedState.Count; i++)
            {
                Assert.Equal(refState[i].step, fusedState[i].step);
                float mDiff = (fusedState[i].exp_avg - refState[i].exp_avg).abs().max().item<float>();
                float vRel = ((fusedState[i].exp_avg_sq - refState[i].exp_avg_sq).abs() / (refState[i].exp_avg_sq.abs() + 1e-12)).max().item<float>();
                Assert.True(mDiff < 1e-5f && vRel < 1e-5f, $"state {i}: exp_avg max |diff| {mDiff:E3}, exp_avg_sq max relative diff {vRel:E3}");
            }
            Assert.Equal(5, fusedState[^1].step);   // the last parameter had a gradient on even steps only

            // The state file of fused steps is TorchSharp's: it loads into a fresh AdamW, and one more step of each agrees.
            List<Parameter> loadedParams = fusedParams.Select(p => new Parameter(p.detach().clone())).ToList();
            using var loaded = optim.AdamW(Groups(loadedParams));
            foreach (var group in loaded.ParamGroups) group.LearningRate = group.LearningRate * 0.5;
            loaded.load_state_dict(Path.Combine(dir, "fused.bin"));
            SetGradients(fusedParams, 11, skipLast: false);
            SetGradients(loadedParams, 11, skipLast: false);
            Assert.Equal(ExpertKernels.Accelerated, FusedAdamW.Step(fused));   // fused where AVX2/FMA exist
            loaded.step();
            for (int i = 0; i < fusedParams.Count; i++)
                Assert.True((fusedParams[i] - loadedParams[i]).abs().max().item<float>() < 1e-5f, $"parameter {i} after the loaded step");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The update against the formula written out in double precision for one element.</summary>
    [Fact]
    public void OneStepEqualsTheFormula()
    {
        var p = new Parameter(tensor(new float[] { 0.5f, -2f, 3f, 0f, 1e-3f, -0.25f, 7f, 1f, 2f }));
        var grad = tensor(new float[] { 0.1f, -0.3f, 2f, 0f, 5f, -1e-4f, 0.7f, -1f, 3f });
        double lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        float[] before = p.data<float>().ToArray(), g = grad.data<float>().ToArray();
        using var opt = optim.AdamW(new[] { p }, lr, b1, b2, eps, wd);
        p.grad = grad;
        Assert.Equal(ExpertKernels.Accelerated, FusedAdamW.Step(opt));
        float[] after = p.data<float>().ToArray();
        for (int i = 0; i < before.Length; i++)
        {
            double m = (1 - b1) * g[i], v = (1 - b2) * g[i] * g[i];
            double expected = before[i] * (1 - lr * wd) - lr / (1 - b1) * m / (Math.Sqrt(v) / Math.Sqrt(1 - b2) + eps);
            Assert.True(Math.Abs(after[i] - expected) <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"element {i}: {after[i]} vs {expected}");
        }
    }

    /// <summary>amsgrad is not fused: the step falls back to TorchSharp's update and equals it exactly.</summary>
    [Fact]
    public void AmsgradFallsBackToTorchSharp()
    {
        List<Parameter> a = MakeParameters(9), b = MakeParameters(9);
        using var fused = optim.AdamW(new[] { new AdamW.ParamGroup(a, new AdamW.Options { amsgrad = true, LearningRate = 1e-2 }) });
        using var reference = optim.AdamW(new[] { new AdamW.ParamGroup(b, new AdamW.Options { amsgrad = true, LearningRate = 1e-2 }) });
        for (int step = 1; step <= 3; step++)
        {
            SetGradients(a, step, false);
            SetGradients(b, step, false);
            Assert.False(FusedAdamW.Step(fused));
            reference.step();
        }
        for (int i = 0; i < a.Count; i++) Assert.Equal(0f, (a[i] - b[i]).abs().max().item<float>());
    }
}
