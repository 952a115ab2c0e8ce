using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Samples.Comparison;
using ScottPlot;

namespace MoeDsl.Examples;

/// <summary>The comparison's figures: loss curves per method (mean over seeds), held-out exact match per task and
/// method with error bars over seeds (<see cref="MoeDsl.Cli.Plots.GroupedBars"/>), and the expert-load heatmap per
/// mixture (the figure MoLA and GMoE use to argue their case).</summary>
internal static class ComparisonPlots
{
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<ComparisonResult> results, string[] methods, string[] tasks, Func<string, int[]> expertsPerLayer)
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

        // Accuracy per task and method: mean over seeds with the sample standard deviation as the error bar.
        var series = methods.Select(m =>
        {
            var runs = results.Where(r => r.Method == m).ToList();
            return new MoeDsl.Cli.BarSeries(m,
                tasks.Select(t => 100 * runs.Average(r => r.Accuracy[t])).ToArray(),
                tasks.Select(t => 100 * SampleStd(runs.Select(r => r.Accuracy[t]).ToArray())).ToArray());
        }).ToList();
        string accuracy = Path.Combine(directory, "accuracy.png");
        int seeds = results.Select(r => r.Seed).Distinct().Count();
        MoeDsl.Cli.Plots.GroupedBars(accuracy, $"held-out accuracy (%), mean ± sample std over {seeds} seed(s)", "accuracy (%)", tasks, series);
        written.Add(accuracy);

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

    /// <summary>Sample standard deviation (n − 1); NaN for a single value (no error bar is drawn).</summary>
    internal static double SampleStd(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return double.NaN;
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }

    private static string Save(Plot plot, string path, int width, int height)
    {
        plot.SavePng(path, width, height);
        return path;
    }
}
