using System;
using System.Collections.Generic;
using System.Globalization;

namespace MoeDsl.Benchmarks;

/// <summary>The culture every printed number is formatted in, so that the output parses the same everywhere.</summary>
internal static class Invariant
{
    public static readonly CultureInfo Culture = CultureInfo.InvariantCulture;
}

/// <summary>One measured A/B pair: its medians, their ratio (NaN when not measured), unit and goal.</summary>
internal sealed record Figure(string Name, string A, string B, double MedianA, double MedianB, double Ratio, string Unit, string Goal)
{
    public bool Measured => !double.IsNaN(Ratio);
}

/// <summary>What the figures measured, collected in run order and printed after the last one: the figure table, the
/// MixLoRA Table 6 rows, the notes and the <c>RATIO name value</c> lines.</summary>
internal sealed class Report
{
    private readonly List<Figure> figures = new();
    private readonly List<string> notes = new();
    private readonly List<string> table6 = new();

    public void Add(Figure figure) => figures.Add(figure);

    public void Note(string note) => notes.Add(note);

    /// <summary>A row of the per-token forward/backward table laid out like MixLoRA's Table 6.</summary>
    public void AddTable6Row(string row) => table6.Add(row);

    /// <summary>Prints everything collected, then the total time, then one <c>RATIO</c> line per figure (the lines
    /// scripts read; <c>not-measured</c> where a figure could not be taken).</summary>
    public void Print(TimeSpan total)
    {
        Console.WriteLine();
        PrintTable();
        Console.WriteLine();
        Console.WriteLine("MixLoRA Table 6 layout (per token, one full train step, this machine; the paper's LLaMA-2 7B on its GPU: MixLoRA 1.89x forward, 1.99x backward):");
        foreach (string line in table6) Console.WriteLine(line);
        Console.WriteLine();
        foreach (string note in notes) Console.WriteLine($"note: {note}");
        Console.WriteLine(string.Create(Invariant.Culture, $"total time {total.TotalSeconds:F0} s"));
        Console.WriteLine();
        foreach (Figure f in figures)
            Console.WriteLine(f.Measured ? string.Create(Invariant.Culture, $"RATIO {f.Name} {f.Ratio:F3}") : $"RATIO {f.Name} not-measured");
    }

    private void PrintTable()
    {
        CultureInfo inv = Invariant.Culture;
        Console.WriteLine("Figures (A over B; medians):");
        Console.WriteLine(string.Create(inv, $"| {"figure",-28} | {"A",-44} | {"B",-40} | {"A",10} | {"B",10} | {"unit",-12} | {"A/B",7} | {"goal",8} |"));
        Console.WriteLine($"|{new string('-', 30)}|{new string('-', 46)}|{new string('-', 42)}|{new string('-', 12)}|{new string('-', 12)}|{new string('-', 14)}|{new string('-', 9)}|{new string('-', 10)}|");
        foreach (Figure f in figures)
        {
            string va = f.Measured ? f.MedianA.ToString("F1", inv) : "-", vb = f.Measured ? f.MedianB.ToString("F1", inv) : "-";
            string r = f.Measured ? f.Ratio.ToString("F3", inv) : "n/a";
            Console.WriteLine(string.Create(inv, $"| {f.Name,-28} | {f.A,-44} | {f.B,-40} | {va,10} | {vb,10} | {f.Unit,-12} | {r,7} | {f.Goal,8} |"));
        }
    }
}
