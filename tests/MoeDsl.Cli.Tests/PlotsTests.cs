using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ScottPlot;
using Xunit;

namespace MoeDsl.Cli.Tests;

/// <summary>The figures' content, read from the built ScottPlot plots (values, error bars, ticks, legend placement), and
/// the end-of-run loss summary.</summary>
public sealed class PlotsTests
{
    private static bool LegendOutsideTheData(Plot plot)
        => !plot.Legend.IsVisible && plot.Axes.GetPanels().Any(p => p.GetType().Name == "LegendPanel");

    [Fact]
    public void AccuracyBarsCarryTheSpreadAsErrorBarsAndTheLegendSitsBesideTheData()
    {
        string[] tasks = { "copy", "add" };
        var series = new[]
        {
            new BarSeries("lora", new[] { 90.0, 20.0 }, new[] { 3.0, double.NaN }),
            new BarSeries("mixlora", new[] { 50.0, 30.0 }, new[] { 7.5, 0.0 }),
        };
        Plot plot = Plots.GroupedBarsPlot("t", "accuracy (%)", tasks, series);
        Bar[] bars = plot.GetPlottables<ScottPlot.Plottables.BarPlot>().SelectMany(b => b.Bars).OrderBy(b => b.Position).ToArray();
        // Positions g * (S + 1) + s: copy/lora 0, copy/mixlora 1, add/lora 3, add/mixlora 4.
        Assert.Equal(new[] { 0.0, 1.0, 3.0, 4.0 }, bars.Select(b => b.Position));
        Assert.Equal(new[] { 90.0, 50.0, 20.0, 30.0 }, bars.Select(b => b.Value));
        Assert.Equal(new[] { 3.0, 7.5, 0.0, 0.0 }, bars.Select(b => b.Error));   // NaN (one seed) draws none
        Assert.True(LegendOutsideTheData(plot));
        Assert.Equal(new[] { "lora", "mixlora" }, plot.Legend.ManualItems.Select(i => i.LabelText));
        plot.GetImage(900, 500).Dispose();   // ticks are laid out when the figure is drawn
        var ticks = plot.Axes.Bottom.TickGenerator.Ticks;
        Assert.Equal(new[] { 0.5, 3.5 }, ticks.Select(t => t.Position));
        Assert.Equal(tasks, ticks.Select(t => t.Label));
        Assert.Throws<ArgumentException>(() => Plots.GroupedBarsPlot("t", "y", tasks, new[] { new BarSeries("x", new[] { 1.0 }, new[] { 0.0 }) }));
    }

    [Fact]
    public void ExpertLoadHasOneIntegerTickPerLayerAndExpertAndTheSharesOfEachLayer()
    {
        // Layer 0: experts 0..2 got 1, 3, 0 assignments; layer 1 has only 2 experts, 2 and 2.
        double[,] counts = { { 1, 3, 0 }, { 2, 2, 0 } };
        Plot plot = Plots.ExpertLoadPlot("t", counts, new[] { 3, 2 });
        var heat = plot.GetPlottables<ScottPlot.Plottables.Heatmap>().Single();
        double[,] shares = heat.Intensities;   // row 0 is the top: the last layer
        Assert.Equal(0.5, shares[0, 0]);
        Assert.Equal(0.5, shares[0, 1]);
        Assert.True(double.IsNaN(shares[0, 2]));   // layer 1 has no expert 2
        Assert.Equal(new[] { 0.25, 0.75, 0.0 }, new[] { shares[1, 0], shares[1, 1], shares[1, 2] });
        plot.GetImage(600, 400).Dispose();   // ticks are laid out when the figure is drawn
        Assert.Equal(new[] { 0.0, 1.0, 2.0 }, plot.Axes.Bottom.TickGenerator.Ticks.Select(t => t.Position));
        Assert.Equal(new[] { "0", "1", "2" }, plot.Axes.Bottom.TickGenerator.Ticks.Select(t => t.Label));
        Assert.Equal(new[] { 0.0, 1.0 }, plot.Axes.Left.TickGenerator.Ticks.Select(t => t.Position));
        Assert.Equal(new[] { "0", "1" }, plot.Axes.Left.TickGenerator.Ticks.Select(t => t.Label));
        // Cell (layer l, expert e) is centred on (e, l).
        Assert.Equal(new CoordinateRect(-0.5, 2.5, -0.5, 1.5), heat.Position);
    }

    [Fact]
    public void AuxiliaryLossesArePlottedBesideTheLanguageModelLoss()
    {
        var train = new List<(int, double)> { (1, 3.0), (2, 2.5), (3, 2.0) };
        var aux = new Dictionary<string, IReadOnlyList<(int, double)>>
        {
            ["load_balance"] = new List<(int, double)> { (1, 0.011), (2, 0.010), (3, 0.010) },
            ["z_loss"] = new List<(int, double)> { (1, 0.5), (2, 0.4), (3, double.NaN) },
        };
        Plot panel = Plots.AuxiliaryLossPlot(aux);
        var lines = panel.GetPlottables<ScottPlot.Plottables.Scatter>().ToList();
        Assert.Equal(new[] { "load_balance", "z_loss" }, lines.Select(l => l.LegendText));
        Assert.Equal(new[] { 0.5, 0.4 }, lines[1].Data.GetScatterPoints().Select(p => p.Y));   // the non-finite step left out
        Assert.True(LegendOutsideTheData(panel));

        string dir = Path.Combine(Path.GetTempPath(), "moedsl-plots-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string alone = Path.Combine(dir, "lm.png"), both = Path.Combine(dir, "both.png");
            Plots.LossCurves(alone, "t", train, Array.Empty<(int, double)>());
            Plots.LossCurves(both, "t", train, Array.Empty<(int, double)>(), aux);
            Assert.Equal((900, 500), PngSize(alone));
            Assert.Equal((1600, 500), PngSize(both));   // two panels side by side
        }
        finally { Directory.Delete(dir, true); }
    }

    private static (int Width, int Height) PngSize(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        Assert.Equal(0x89, b[0]);
        int Be(int at) => b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3];
        return (Be(16), Be(20));
    }

    [Fact]
    public void TheFinalLossSaysHowManyStepsItAverages()
    {
        // Hand-computed: (4 + 3 + 2 + 1) / 4 = 2.5 over a 4-step run; the last 10 of 12 steps 1..12 average 7.5.
        Assert.Equal("final loss 2.5000 (mean of the last 4 steps)", MoeDslApp.FinalLoss(new[] { 4.0, 3.0, 2.0, 1.0 }));
        Assert.Equal("final loss 7.5000 (mean of the last 10 steps)", MoeDslApp.FinalLoss(Enumerable.Range(1, 12).Select(i => (double)i).ToArray()));
        Assert.Equal("final loss 1.2500 (the one step)", MoeDslApp.FinalLoss(new[] { 1.25 }));
        Assert.Equal("final loss 2.0000 (mean of the last 2 steps)", MoeDslApp.FinalLoss(new[] { 1.0, double.NaN, 3.0 }));
        Assert.Equal("final loss n/a (no finite step in this process)", MoeDslApp.FinalLoss(Array.Empty<double>()));
    }
}
