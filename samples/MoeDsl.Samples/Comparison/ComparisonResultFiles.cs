using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeDsl.Samples.Comparison;

/// <summary>The main job's results.json: how it is written and read, and how several of them (seeds added with
/// <c>--first-seed</c>, methods run in separate processes) are joined into one set of runs.</summary>
public static class ComparisonResultFiles
{
    /// <summary>Indented, NaN allowed (a metric not measured, e.g. a held-out loss without held-out sequences).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The runs of <paramref name="directory"/>/results.json; a missing or unreadable file is an
    /// <see cref="ArgumentException"/> naming it.</summary>
    public static List<ComparisonResult> Read(string directory)
    {
        string file = Path.Combine(Path.GetFullPath(directory), "results.json");
        if (!File.Exists(file)) throw new ArgumentException($"{directory}: no results.json there (a main-job --out folder has one after its first run)");
        try
        {
            return JsonSerializer.Deserialize<List<ComparisonResult>>(File.ReadAllText(file), Json)
                   ?? throw new ArgumentException($"{file}: holds null, not a list of runs");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{file}: not a main-job results.json ({e.Message})");
        }
    }

    /// <summary>Joins sets of runs by (method, seed). A run present in two sets must agree (the same accuracies and final
    /// loss, as re-runs of one seed by one code version do), else an <see cref="ArgumentException"/> names it. The result
    /// is ordered by <paramref name="methodOrder"/> (methods not in it are refused), then by seed.</summary>
    public static List<ComparisonResult> Join(IEnumerable<(string Source, IReadOnlyList<ComparisonResult> Runs)> sets, IReadOnlyList<string> methodOrder)
    {
        var joined = new Dictionary<(string Method, int Seed), ComparisonResult>();
        foreach (var (source, runs) in sets)
            foreach (ComparisonResult r in runs)
            {
                if (!methodOrder.Contains(r.Method))
                    throw new ArgumentException($"{source}: method '{r.Method}' is not declared here; methods: {string.Join(", ", methodOrder)}");
                if (joined.TryGetValue((r.Method, r.Seed), out ComparisonResult? seen) && !SameRun(seen, r))
                    throw new ArgumentException($"{source}: {r.Method} seed {r.Seed} differs from the same run in an earlier set; join runs of one code version only");
                joined[(r.Method, r.Seed)] = r;
            }
        var position = methodOrder.Select((m, i) => (m, i)).ToDictionary(p => p.m, p => p.i, StringComparer.Ordinal);
        List<ComparisonResult> result = joined.Values.OrderBy(r => position[r.Method]).ThenBy(r => r.Seed).ToList();
        if (result.Count > 0)
        {
            string[] tasks = result[0].Accuracy.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
            if (result.Any(r => !r.Accuracy.Keys.OrderBy(k => k, StringComparer.Ordinal).SequenceEqual(tasks)))
                throw new ArgumentException("the runs were scored on different tasks; join runs of one task set only");
        }
        return result;
    }

    private static bool SameRun(ComparisonResult a, ComparisonResult b)
        => a.FinalLoss.Equals(b.FinalLoss) && a.Accuracy.Count == b.Accuracy.Count
           && a.Accuracy.All(kv => b.Accuracy.TryGetValue(kv.Key, out double v) && v.Equals(kv.Value));
}
