using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ScottPlot;

namespace MoeDsl.Cli;

/// <summary>One series of a grouped bar chart: a value per group (mean over seeds) and its spread (sample standard
/// deviation over seeds; NaN or 0 draws no error bar).</summary>
/// <param name="Name">The legend label.</param>
/// <param name="Mean">One value per group.</param>
/// <param name="Spread">One error half-length per group.</param>
public sealed record BarSeries(string Name, IReadOnlyList<double> Mean, IReadOnlyList<double> Spread);

/// <summary>PNG figures of a run, drawn with ScottPlot. Each figure is built by a <c>…Plot</c> method (tests read the
/// built plot) and written by the method of the same name without the suffix.</summary>
public static class Plots
{
    /// <summary>Training LM loss per step and held-out loss where evaluated; with auxiliary losses (load balance, z-loss,
    /// GMoE's Poisson and Normal losses) a second panel beside it draws each of them per step, on its own scale.</summary>
    public static void LossCurves(string path, string title, IReadOnlyList<(int Step, double Loss)> train, IReadOnlyList<(int Step, double Loss)> eval,
                                  IReadOnlyDictionary<string, IReadOnlyList<(int Step, double Loss)>>? auxiliary = null)
    {
        Plot lm = LossPlot(title, train, eval);
        Plot? aux = auxiliary is { Count: > 0 } ? AuxiliaryLossPlot(auxiliary) : null;
        if (aux is null)
        {
            lm.SavePng(path, 900, 500);
            return;
        }
        var figure = new Multiplot();
        figure.AddPlot(lm);
        figure.AddPlot(aux);
        figure.Layout = new ScottPlot.MultiplotLayouts.Columns();
        figure.SavePng(path, 1600, 500);
    }

    /// <summary>The LM-loss panel of <see cref="LossCurves"/>.</summary>
    public static Plot LossPlot(string title, IReadOnlyList<(int Step, double Loss)> train, IReadOnlyList<(int Step, double Loss)> eval)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(eval);
        var plot = new Plot();
        AddLine(plot, "train (LM loss)", train, markers: false);
        AddLine(plot, "held-out", eval, markers: true);
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("LM loss");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>The auxiliary-loss panel of <see cref="LossCurves"/>: one line per loss, by name.</summary>
    public static Plot AuxiliaryLossPlot(IReadOnlyDictionary<string, IReadOnlyList<(int Step, double Loss)>> auxiliary)
    {
        ArgumentNullException.ThrowIfNull(auxiliary);
        var plot = new Plot();
        foreach (var (name, points) in auxiliary.OrderBy(kv => kv.Key, StringComparer.Ordinal)) AddLine(plot, name, points, markers: false);
        plot.Title("auxiliary losses (as added to the LM loss)");
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static void AddLine(Plot plot, string label, IReadOnlyList<(int Step, double Loss)> points, bool markers)
    {
        var finite = points.Where(p => double.IsFinite(p.Loss)).ToArray();
        if (finite.Length == 0) return;
        var line = plot.Add.Scatter(finite.Select(p => (double)p.Step).ToArray(), finite.Select(p => p.Loss).ToArray());
        line.LegendText = label;
        // A run of one or a few steps is points, not an invisible line.
        line.MarkerSize = markers || finite.Length < 20 ? 5 : 0;
    }

    /// <summary>Heatmap of the share of routing assignments each expert received, per layer (rows = layers, bottom = layer 0).
    /// Cells of experts a layer does not have are left empty (NaN).</summary>
    public static void ExpertLoad(string path, string title, double[,] counts, IReadOnlyList<int> expertsPerLayer)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ExpertLoadPlot(title, counts, expertsPerLayer).SavePng(path, Math.Max(400, 80 * counts.GetLength(1) + 250), Math.Max(300, 40 * counts.GetLength(0) + 150));
    }

    /// <summary>The figure of <see cref="ExpertLoad"/>: cell (layer l, expert e) centred on (e, l), with one integer tick per
    /// expert and per layer.</summary>
    public static Plot ExpertLoadPlot(string title, double[,] counts, IReadOnlyList<int> expertsPerLayer)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(expertsPerLayer);
        int layers = counts.GetLength(0), experts = counts.GetLength(1);
        var share = new double[layers, experts];
        for (int l = 0; l < layers; l++)
        {
            double sum = 0;
            for (int e = 0; e < experts; e++) sum += counts[l, e];
            for (int e = 0; e < experts; e++)
                share[layers - 1 - l, e] = e < expertsPerLayer[l] && sum > 0 ? counts[l, e] / sum : double.NaN;
        }
        var plot = new Plot();
        var heat = plot.Add.Heatmap(share);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        heat.Position = new CoordinateRect(-0.5, experts - 0.5, -0.5, layers - 0.5);
        plot.Add.ColorBar(heat).Label = "share of assignments";
        plot.Axes.Bottom.SetTicks(IntegerTicks(experts), IntegerLabels(experts));
        plot.Axes.Left.SetTicks(IntegerTicks(layers), IntegerLabels(layers));
        plot.Axes.SetLimits(-0.5, experts - 0.5, -0.5, layers - 0.5);
        plot.Title(title);
        plot.XLabel("expert");
        plot.YLabel("layer");
        return plot;
    }

    private static double[] IntegerTicks(int n) => Enumerable.Range(0, n).Select(i => (double)i).ToArray();

    private static string[] IntegerLabels(int n) => Enumerable.Range(0, n).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Bars grouped by <paramref name="groups"/> (e.g. tasks), one colour per series (e.g. method), each with its
    /// error bar; the legend sits right of the data area, never over a bar.</summary>
    public static void GroupedBars(string path, string title, string yLabel, IReadOnlyList<string> groups, IReadOnlyList<BarSeries> series)
        => GroupedBarsPlot(title, yLabel, groups, series).SavePng(path, Math.Max(900, 60 * groups.Count * (series.Count + 1) + 300), 500);

    /// <summary>The figure of <see cref="GroupedBars"/>. Bar (group g, series s) stands at g·(S+1)+s.</summary>
    public static Plot GroupedBarsPlot(string title, string yLabel, IReadOnlyList<string> groups, IReadOnlyList<BarSeries> series)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(series);
        var plot = new Plot();
        int width = series.Count + 1;
        for (int s = 0; s < series.Count; s++)
        {
            BarSeries one = series[s];
            if (one.Mean.Count != groups.Count || one.Spread.Count != groups.Count)
                throw new ArgumentException($"series '{one.Name}' has {one.Mean.Count} values and {one.Spread.Count} spreads for {groups.Count} groups", nameof(series));
            Color color = Colors.Category10[s % 10];
            var bars = groups.Select((_, g) => new Bar
            {
                Position = g * width + s,
                Value = one.Mean[g],
                Error = double.IsFinite(one.Spread[g]) ? one.Spread[g] : 0,
                FillColor = color,
            }).ToList();
            plot.Add.Bars(bars);
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = one.Name, FillColor = color });
        }
        plot.Axes.Bottom.SetTicks(groups.Select((_, g) => g * width + (series.Count - 1) / 2.0).ToArray(), groups.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
        return plot;
    }
}
