using System;
using System.Runtime.Intrinsics;
using MoeDsl.Runtime.Kernels;
using Xunit;

namespace MoeDsl.Runtime.Tests.Kernels;

/// <summary>The kernels' own fp32 e^x (their sigmoid's) against double-precision Math.Exp.</summary>
public sealed class KernelExpTests
{
    /// <summary>Within 2 ulp (relative 2.4e-7) over the whole range the sigmoids see, on a grid of 175,000 points that are
    /// not aligned to the range reduction's multiples of ln 2.</summary>
    [Fact]
    public void ExpIsWithinTwoUlpOfDoublePrecision()
    {
        double worst = 0, worstAt = 0;
        var lanes = new float[8];
        for (double start = -87.0; start < 88.3; start += 8 * 1.0003e-3)
        {
            for (int i = 0; i < 8; i++) lanes[i] = (float)(start + i * 1.0003e-3);
            Vector256<float> e = ExpertKernels.Exp(Vector256.Create(lanes));
            for (int i = 0; i < 8; i++)
            {
                double exact = Math.Exp(lanes[i]);
                double rel = Math.Abs(e.GetElement(i) - exact) / exact;
                if (rel > worst) (worst, worstAt) = (rel, lanes[i]);
            }
        }
        Assert.True(worst < 2.4e-7, $"relative error {worst:E3} at x = {worstAt}");
    }

    [Fact]
    public void ExpClampsOutOfRangeInputsAndKeepsNaN()
    {
        Vector256<float> e = ExpertKernels.Exp(Vector256.Create(200f, -200f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, 1f, -1f));
        Assert.True(float.IsFinite(e[0]) && e[0] > 1e38f, $"e^200 clamps to the largest finite power, got {e[0]}");
        Assert.Equal(e[0], e[2]);
        Assert.True(e[1] >= 0f && e[1] < 1.2e-38f, $"e^-200 clamps to about 1.18e-38, got {e[1]}");
        Assert.Equal(e[1], e[3]);
        Assert.True(float.IsNaN(e[4]), "NaN must stay NaN so non-finite steps are still detected");
        Assert.Equal(1f, e[5]);
        Assert.Equal(Math.E, e[6], 6);
        Assert.Equal(1 / Math.E, e[7], 6);
    }
}
