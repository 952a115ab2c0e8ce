using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Fuzz;

/// <summary>Outcome counts of one target.</summary>
public sealed class FuzzCounts
{
    public FuzzCounts(string target) => Target = target;
    public string Target { get; }
    /// <summary>Inputs run (seeds included).</summary>
    public int Inputs { get; set; }
    /// <summary>Inputs read successfully.</summary>
    public int Accepted { get; set; }
    /// <summary>Inputs refused with the typed error (<see cref="ModelFormatException"/> or a subclass; for declaration specs
    /// <see cref="Runtime.Declarations.DeclarationSpecException"/>, which names every error).</summary>
    public int Refused { get; set; }
    /// <summary>Inputs that ended any other way: defects.</summary>
    public int Failed { get; set; }
    /// <summary>Slowest single input, milliseconds.</summary>
    public double SlowestMs { get; set; }
}

/// <summary>A defect: an input that ended with an exception other than the typed error.</summary>
public sealed record FuzzFailure(string Target, byte[] Input, Exception Error)
{
    public override string ToString() => $"{Target}: {Error.GetType().FullName}: {Error.Message}\ninput (base64): {Convert.ToBase64String(Input)}\n{Error.StackTrace}";
}

/// <summary>The seeded mutation loop. Inputs are spread round-robin over the targets; each is a seed (first pass) or a
/// mutant of a random seed. The only allowed outcomes are success and the typed error (<see cref="ModelFormatException"/>,
/// <see cref="Runtime.Declarations.DeclarationSpecException"/>).</summary>
public static class FuzzRunner
{
    public static IReadOnlyList<FuzzCounts> Run(int count, int seed, Action<FuzzFailure> onFailure, Func<string, bool>? select = null)
    {
        string work = Path.Combine(Path.GetTempPath(), $"moedsl-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            var targets = FuzzTargets.All(work).Where(t => select?.Invoke(t.Name) ?? true).ToArray();
            if (targets.Length == 0) throw new ArgumentException("no fuzz target selected");
            var counts = targets.Select(t => new FuzzCounts(t.Name)).ToArray();
            var mutator = new Mutator(seed);
            var watch = new Stopwatch();
            for (int i = 0; i < count; i++)
            {
                int k = i % targets.Length;
                FuzzTarget t = targets[k];
                int round = i / targets.Length;
                byte[] input = round < t.Seeds.Count
                    ? t.Seeds[round]
                    : mutator.Mutate(t.Seeds[mutator.Next(t.Seeds.Count)], t.Seeds[mutator.Next(t.Seeds.Count)], t.LengthPrefixed);
                FuzzCounts c = counts[k];
                c.Inputs++;
                watch.Restart();
                try
                {
                    t.Run(input);
                    c.Accepted++;
                }
                catch (Exception e) when (e is ModelFormatException or Runtime.Declarations.DeclarationSpecException)
                {
                    c.Refused++;
                }
                catch (Exception e)
                {
                    c.Failed++;
                    onFailure(new FuzzFailure(t.Name, input, e));
                }
                c.SlowestMs = Math.Max(c.SlowestMs, watch.Elapsed.TotalMilliseconds);
            }
            return counts;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { /* cleanup only: a leftover folder changes no result */ }
        }
    }
}
