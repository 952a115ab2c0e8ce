using System;
using System.Collections.Generic;
using System.Linq;

namespace MoeDsl.Samples.Comparison;

/// <summary>A mean with its two-sided 95% interval.</summary>
/// <param name="Mean">The mean.</param>
/// <param name="Low">Lower end of the 95% interval (NaN with fewer than 2 values).</param>
/// <param name="High">Upper end (NaN likewise).</param>
/// <param name="Count">How many values (paired differences) it is computed from.</param>
public sealed record Interval(double Mean, double Low, double High, int Count)
{
    /// <summary>True when the interval excludes 0 (the difference is significant at the 5% level).</summary>
    public bool Significant => Low > 0 || High < 0;
}

/// <summary>The main job's statistics: paired differences between two methods run with the same seeds (same data
/// order, same held-out items) and Student-t 95% intervals over the seeds.</summary>
public static class PairedStatistics
{
    // Two-sided 95% quantiles t(0.975, df) for df = 1..30 (any statistics table).
    private static readonly double[] T975 =
    {
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    };

    /// <summary>t(0.975, df): the table for df &lt;= 30, beyond it the Cornish-Fisher expansion around z = 1.959964
    /// (within 1e-3 of the exact quantile for df &gt; 30).</summary>
    public static double StudentT975(int degreesOfFreedom)
    {
        if (degreesOfFreedom < 1) throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), degreesOfFreedom, "needs at least 1 degree of freedom");
        if (degreesOfFreedom <= T975.Length) return T975[degreesOfFreedom - 1];
        const double z = 1.959964;
        double n = degreesOfFreedom;
        return z + (z * z * z + z) / (4 * n) + (5 * Math.Pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
    }

    /// <summary>Sample standard deviation (n - 1 in the denominator); NaN for fewer than two values.</summary>
    public static double SampleStandardDeviation(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return double.NaN;
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }

    /// <summary>Mean of <paramref name="values"/> with the Student-t 95% interval <c>mean +- t(0.975, n-1) s / sqrt(n)</c>
    /// (s: sample standard deviation).</summary>
    public static Interval MeanInterval(IReadOnlyList<double> values)
    {
        int n = values.Count;
        if (n == 0) throw new ArgumentException("no values");
        double mean = values.Average();
        if (n < 2) return new Interval(mean, double.NaN, double.NaN, n);
        double sd = SampleStandardDeviation(values);
        double half = StudentT975(n - 1) * sd / Math.Sqrt(n);
        return new Interval(mean, mean - half, mean + half, n);
    }

    /// <summary>Paired difference <c>a_i - b_i</c> (same seed i) with its paired-t 95% interval.</summary>
    public static Interval PairedDifference(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"paired values need the same count, got {a.Count} and {b.Count}");
        return MeanInterval(a.Zip(b, (x, y) => x - y).ToArray());
    }

    /// <summary>Half-width of the 95% interval that held-out sampling alone puts on a difference of two accuracies measured
    /// on <paramref name="items"/> items each, in the worst case (both near 50%): <c>1.96 sqrt(2 * 0.25 / items)</c>.</summary>
    public static double ItemNoiseHalfWidth(int items) => 1.959964 * Math.Sqrt(0.5 / items);
}

/// <summary>One method against its baseline over the seeds both ran: the paired difference of the mean accuracy and of
/// each task's accuracy (fractions, method minus baseline), each with its 95% paired-t interval.</summary>
/// <param name="Method">The method.</param>
/// <param name="Baseline">The baseline it is paired with.</param>
/// <param name="Kind">Why this pair ("matched budget", "paper ratio").</param>
/// <param name="Mean">Difference of the mean accuracy over the tasks.</param>
/// <param name="PerTask">Difference per task.</param>
public sealed record PairedComparison(string Method, string Baseline, string Kind, Interval Mean, IReadOnlyDictionary<string, Interval> PerTask)
{
    /// <summary>Pairs the runs of <paramref name="method"/> and <paramref name="baseline"/> by seed; both must have run the
    /// same seeds.</summary>
    public static PairedComparison Of(IReadOnlyList<ComparisonResult> results, string method, string baseline, string kind, IReadOnlyList<string> tasks)
    {
        ComparisonResult[] a = results.Where(r => r.Method == method).OrderBy(r => r.Seed).ToArray();
        ComparisonResult[] b = results.Where(r => r.Method == baseline).OrderBy(r => r.Seed).ToArray();
        if (a.Length == 0 || !a.Select(r => r.Seed).SequenceEqual(b.Select(r => r.Seed)))
            throw new ArgumentException($"{method} and {baseline} must have run the same seeds to be paired " +
                                        $"({string.Join(",", a.Select(r => r.Seed))} vs {string.Join(",", b.Select(r => r.Seed))})");
        var perTask = tasks.ToDictionary(t => t, t => PairedStatistics.PairedDifference(a.Select(r => r.Accuracy[t]).ToArray(), b.Select(r => r.Accuracy[t]).ToArray()));
        return new PairedComparison(method, baseline, kind,
            PairedStatistics.PairedDifference(a.Select(r => r.MeanAccuracy).ToArray(), b.Select(r => r.MeanAccuracy).ToArray()), perTask);
    }
}
