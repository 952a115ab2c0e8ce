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
        var acc = new Plot();
        for (int mi = 0; mi < methods.Length; mi++)
        {
            var runs = results.Where(r => r.Method == methods[mi]).ToList();
            var bars = tasks.Select((t, ti) => IntervalBar(PairedStatistics.MeanInterval(runs.Select(r => r.Accuracy[t]).ToArray()),
                                                           ti * (methods.Length + 1) + mi, mi)).ToList();
            acc.Add.Bars(bars);
            acc.Legend.ManualItems.Add(new LegendItem { LabelText = methods[mi], FillColor = Colors.Category10[mi % 10] });
        }
        acc.Axes.Bottom.SetTicks(tasks.Select((_, ti) => (double)(ti * (methods.Length + 1) + (methods.Length - 1) / 2.0)).ToArray(), tasks);
        acc.Title("held-out accuracy (%), mean over seeds, error bars: 95% t-interval over seeds");
        acc.ShowLegend(Edge.Right);
        written.Add(Save(acc, Path.Combine(directory, "accuracy.png"), 900, 500));

        if (differences.Count > 0)
        {
            var diff = new Plot();
            string[] columns = tasks.Append("mean").ToArray();
            for (int di = 0; di < differences.Count; di++)
            {
                PairedComparison d = differences[di];
                var bars = columns.Select((c, ci) => IntervalBar(c == "mean" ? d.Mean : d.PerTask[c], ci * (differences.Count + 1) + di, di)).ToList();
                diff.Add.Bars(bars);
                diff.Legend.ManualItems.Add(new LegendItem { LabelText = $"{d.Method} - {d.Baseline} ({d.Kind})", FillColor = Colors.Category10[di % 10] });
            }
            diff.Axes.Bottom.SetTicks(columns.Select((_, ci) => (double)(ci * (differences.Count + 1) + (differences.Count - 1) / 2.0)).ToArray(), columns);
            diff.Title("paired difference to the baseline (points), error bars: 95% paired-t interval over seeds");
            diff.ShowLegend(Edge.Right);
            written.Add(Save(diff, Path.Combine(directory, "differences.png"), 1000, 550));
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

    /// <summary>A bar at the interval's mean (in points) with its 95% half-width as the error bar (none when there is no
    /// interval: one seed).</summary>
    private static Bar IntervalBar(Interval i, double position, int colour) => new()
    {
        Position = position,
        Value = 100 * i.Mean,
        Error = double.IsNaN(i.High) ? 0 : 100 * (i.High - i.Mean),
        FillColor = Colors.Category10[colour % 10],
    };

    private static string Save(Plot plot, string path, int width, int height)
    {
        plot.SavePng(path, width, height);
        return path;
    }
}
