using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Samples.Comparison;
using ScottPlot;

namespace MoeDsl.Examples;

/// <summary>The comparison's figures: loss curves per method (mean over seeds), held-out exact match per task and
/// method with 95% intervals, the paired differences to the baselines with theirs, and the expert-load heatmap per mixture (the figure MoLA and GMoE use to argue their case).</summary>
internal static class ComparisonPlots
{
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<ComparisonResult> results, string[] methods, string[] tasks, Func<string, int[]> expertsPerLayer,
        IReadOnlyList<PairedComparison> differences)
    {
        var written = new List<string>();

        var loss = new Plot();
        int window = 1;
        foreach (string m in methods)
        {
            var runs = results.Where(r => r.Method == m).ToList();
            int steps = runs.Min(r => r.Losses.Count);
            window = Math.Min(10, steps);
            double[] mean = Enumerable.Range(0, steps).Select(i => runs.Average(r => r.Losses[i])).ToArray();
            double[] smooth = mean.Select((_, i) => mean.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToArray();
            var line = loss.Add.Scatter(Enumerable.Range(1, steps).Select(i => (double)i).ToArray(), smooth);
            line.LegendText = m;
            line.MarkerSize = steps < 20 ? 5 : 0;
        }
        loss.Title(window > 1 ? $"training loss (mean over seeds, {window}-step moving average)" : "training loss (mean over seeds)");
        loss.XLabel("step");
        loss.YLabel("loss");
        loss.ShowLegend(Edge.Right);
        written.Add(Save(loss, Path.Combine(directory, "loss.png"), 900, 500));

        // Accuracy per task and method: mean over seeds with its 95% t-interval as the error bar.
        var accuracy = methods.Select(m =>
        {
            var runs = results.Where(r => r.Method == m).ToList();
            return Points(m, tasks.Select(t => PairedStatistics.MeanInterval(runs.Select(r => r.Accuracy[t]).ToArray())).ToList());
        }).ToList();
        written.Add(Save(MoeDsl.Cli.Plots.GroupedBarsPlot("held-out accuracy (%), mean over seeds, error bars: 95% t-interval over seeds",
                                                          "accuracy (%)", tasks, accuracy), Path.Combine(directory, "accuracy.png"), 900, 500));

        if (differences.Count > 0)
        {
            string[] columns = tasks.Append("mean").ToArray();
            var series = differences.Select(d => Points($"{d.Method} - {d.Baseline} ({d.Kind})",
                                                        columns.Select(c => c == "mean" ? d.Mean : d.PerTask[c]).ToList())).ToList();
            written.Add(Save(MoeDsl.Cli.Plots.GroupedBarsPlot("paired difference to the baseline (points), 95% paired-t intervals",
                                                              "points", columns, series), Path.Combine(directory, "differences.png"), 1000, 550));
        }

        foreach (string m in methods)
        {
            ComparisonResult? last = results.LastOrDefault(r => r.Method == m && r.ExpertLoad.Length > 0);
            if (last is null) continue;
            int layers = last.ExpertLoad.Length, experts = last.ExpertLoad.Max(row => row.Length);
            var counts = new double[layers, experts];
            int[] perLayer = expertsPerLayer(m);
            for (int l = 0; l < layers; l++)
                for (int e = 0; e < last.ExpertLoad[l].Length; e++) counts[l, e] = last.ExpertLoad[l][e];
            string path = Path.Combine(directory, $"expert_load_{m}.png");
            MoeDsl.Cli.Plots.ExpertLoad(path, $"{m}: share of routing assignments per layer (held-out, seed {last.Seed})", counts, perLayer);
            written.Add(path);
        }
        return written;
    }

    /// <summary>One series of intervals in points: the means as bars, the 95% half-widths as error bars (NaN, drawn as
    /// none, when there is no interval: one seed).</summary>
    private static MoeDsl.Cli.BarSeries Points(string name, IReadOnlyList<Interval> intervals)
        => new(name, intervals.Select(i => 100 * i.Mean).ToArray(), intervals.Select(i => 100 * (i.High - i.Mean)).ToArray());

    private static string Save(Plot plot, string path, int width, int height)
    {
        plot.SavePng(path, width, height);
        return path;
    }
}
