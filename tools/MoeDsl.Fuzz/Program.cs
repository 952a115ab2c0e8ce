using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using MoeDsl.Fuzz;

// moedsl-fuzz: dotnet run -c Release --project tools/MoeDsl.Fuzz -- --count 100000 --seed 1 [--target NAME-PREFIX]
int count = 100_000, seed = 1;
string? target = null;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--count": count = int.Parse(Value(), NumberStyles.None, CultureInfo.InvariantCulture); break;
        case "--seed": seed = int.Parse(Value(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture); break;
        case "--target": target = Value(); break;
        case "-h" or "--help":
            Console.WriteLine("usage: MoeDsl.Fuzz [--count N (100000)] [--seed S (1)] [--target NAME-PREFIX]");
            return 0;
        default:
            Console.Error.WriteLine($"unknown option '{args[i]}'; known: --count, --seed, --target, --help");
            return 2;
    }
}

var watch = Stopwatch.StartNew();
int failures = 0;
var counts = FuzzRunner.Run(count, seed, f =>
{
    failures++;
    if (failures <= 20) Console.Error.WriteLine("FAILURE " + f);
}, target is null ? null : n => n.StartsWith(target, StringComparison.OrdinalIgnoreCase));

Console.WriteLine($"seed {seed}, {counts.Sum(c => c.Inputs)} inputs, {watch.Elapsed.TotalSeconds:F1} s");
Console.WriteLine($"{"reader",-26} {"inputs",8} {"accepted",9} {"refused",9} {"failed",7} {"slowest ms",11}");
foreach (var c in counts)
    Console.WriteLine($"{c.Target,-26} {c.Inputs,8} {c.Accepted,9} {c.Refused,9} {c.Failed,7} {c.SlowestMs,11:F1}");
Console.WriteLine($"{"total",-26} {counts.Sum(c => c.Inputs),8} {counts.Sum(c => c.Accepted),9} {counts.Sum(c => c.Refused),9} {counts.Sum(c => c.Failed),7}");
return failures == 0 ? 0 : 1;
