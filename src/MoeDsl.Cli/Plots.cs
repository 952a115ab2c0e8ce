using System;
using System.Collections.Generic;
using System.Linq;
using ScottPlot;

namespace MoeDsl.Cli;

/// <summary>PNG figures of a run, drawn with ScottPlot.</summary>
public static class Plots
{
    /// <summary>Training loss per step (and held-out loss where evaluated).</summary>
    public static void LossCurves(string path, string title, IReadOnlyList<(int Step, double Loss)> train, IReadOnlyList<(int Step, double Loss)> eval)
    {
        var plot = new Plot();
        var finite = train.Where(p => double.IsFinite(p.Loss)).ToArray();
        if (finite.Length > 0)
        {
            var s = plot.Add.Scatter(finite.Select(p => (double)p.Step).ToArray(), finite.Select(p => p.Loss).ToArray());
            s.LegendText = "train (LM loss)";
            s.MarkerSize = 0;
        }
        var evalFinite = eval.Where(p => double.IsFinite(p.Loss)).ToArray();
        if (evalFinite.Length > 0)
        {
            var e = plot.Add.Scatter(evalFinite.Select(p => (double)p.Step).ToArray(), evalFinite.Select(p => p.Loss).ToArray());
            e.LegendText = "held-out";
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
    }

    /// <summary>Heatmap of the share of routing assignments each expert received, per layer (rows = layers, bottom = layer 0).
    /// Cells of experts a layer does not have are left empty (NaN).</summary>
    public static void ExpertLoad(string path, string title, double[,] counts, IReadOnlyList<int> expertsPerLayer)
    {
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
        plot.Add.ColorBar(heat).Label = "share of assignments";
        plot.Title(title);
        plot.XLabel("expert");
        plot.YLabel("layer");
        plot.SavePng(path, Math.Max(400, 80 * experts + 250), Math.Max(300, 40 * layers + 150));
    }
}
