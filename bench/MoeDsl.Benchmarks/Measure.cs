using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using static TorchSharp.torch;

namespace MoeDsl.Benchmarks;

/// <summary>Timing and statistics shared by the figures: A and B measured alternately, medians, and the wall time of
/// one forward + backward call.</summary>
internal static class Measure
{
    /// <summary>Layer-level figures take tens of milliseconds, where a single repetition's ratio is mostly noise: they run
    /// this many times the repetitions (and warm-ups) so that their medians hold.</summary>
    public const int LayerRepsFactor = 5;

    /// <summary>Runs A and B alternately (<paramref name="factor"/> times the repetitions and warm-ups), A first on even
    /// repetitions and B first on odd ones so that neither always runs on the state the other left; each call returns
    /// its own milliseconds. The ratio is the median of the per-repetition ratios.</summary>
    public static (double A, double B, double Ratio, double[] RatiosPerRep) Interleave(Options options, Func<double> a, Func<double> b, int factor = 1)
    {
        int reps = options.Reps * factor;
        for (int i = 0; i < options.Warmup * factor; i++) { a(); b(); }
        var ta = new double[reps];
        var tb = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            if (i % 2 == 0) { ta[i] = a(); tb[i] = b(); }
            else { tb[i] = b(); ta[i] = a(); }
        }
        double[] ratios = ta.Zip(tb, (x, y) => x / y).ToArray();
        return (Median(ta), Median(tb), Median(ratios), ratios);
    }

    public static double Median(IEnumerable<double> values)
    {
        double[] v = values.OrderBy(x => x).ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>Milliseconds of <paramref name="forwardBackward"/>; <paramref name="zeroGrad"/> then clears the gradients
    /// it accumulated, untimed, so that every call starts alike. Both run in one dispose scope, which frees the call's
    /// tensors afterwards.</summary>
    public static double Milliseconds(Action forwardBackward, Action zeroGrad)
    {
        using var _ = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        forwardBackward();
        double ms = sw.Elapsed.TotalMilliseconds;
        zeroGrad();
        return ms;
    }
}
