using System;
using MoeDsl.Samples.Comparison;
using Xunit;

namespace MoeDsl.Runtime.Tests.Comparison;

public sealed class PairedStatisticsTests
{
    [Fact]
    public void PairedDifferenceMatchesAHandComputedPairedT()
    {
        // a - b = 3, 5, 4, 8, 5: mean 5, squared deviations 4 + 0 + 1 + 9 + 0 = 14, s = sqrt(14 / 4) = 1.870829,
        // s / sqrt(5) = 0.836660, t(0.975, 4) = 2.776 -> half-width 2.322568: [2.677432, 7.322568].
        double[] a = { 60, 62, 61, 66, 63 };
        double[] b = { 57, 57, 57, 58, 58 };
        Interval d = PairedStatistics.PairedDifference(a, b);
        Assert.Equal(5.0, d.Mean, 9);
        Assert.Equal(2.677432, d.Low, 5);
        Assert.Equal(7.322568, d.High, 5);
        Assert.Equal(5, d.Count);
        Assert.True(d.Significant);
    }

    [Fact]
    public void AnIntervalAcrossZeroIsNotSignificantAndOneValueHasNoInterval()
    {
        // 1, -1, 2: mean 2/3, deviations 1/3, -5/3, 4/3 -> 1/9 + 25/9 + 16/9 = 42/9, s^2 = 7/3, s = 1.527525,
        // s / sqrt(3) = 0.881917, t(0.975, 2) = 4.303 -> half-width 3.794890: [-3.128223, 4.461557].
        Interval d = PairedStatistics.MeanInterval(new[] { 1.0, -1.0, 2.0 });
        Assert.Equal(-3.128223, d.Low, 5);
        Assert.Equal(4.461557, d.High, 5);
        Assert.False(d.Significant);
        Interval one = PairedStatistics.MeanInterval(new[] { 4.0 });
        Assert.Equal(4.0, one.Mean);
        Assert.True(double.IsNaN(one.Low) && double.IsNaN(one.High));
        Assert.False(one.Significant);
        Assert.Throws<ArgumentException>(() => PairedStatistics.PairedDifference(new[] { 1.0 }, new[] { 1.0, 2.0 }));
    }

    [Theory]
    [InlineData(1, 12.706)]
    [InlineData(4, 2.776)]
    [InlineData(30, 2.042)]
    [InlineData(40, 2.021)]    // tables: 2.0211
    [InlineData(120, 1.980)]   // tables: 1.9799
    public void StudentQuantilesMatchTheTables(int df, double expected)
        => Assert.Equal(expected, PairedStatistics.StudentT975(df), 3);

    [Fact]
    public void ItemNoiseOfADifferenceOnEightHundredItems()
        // 1.959964 * sqrt(0.5 / 800) = 0.048999: a 5-point difference on one task of 800 items clears item noise.
        => Assert.Equal(0.048999, PairedStatistics.ItemNoiseHalfWidth(800), 5);
}
