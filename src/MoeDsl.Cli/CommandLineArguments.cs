using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace MoeDsl.Cli;

/// <summary>A command-line error: the message is shown as one line and the process exits with code 2.</summary>
public sealed class UsageException : Exception
{
    /// <summary>A usage error whose <paramref name="message"/> is the one line shown to the user.</summary>
    public UsageException(string message) : base(message) { }
}

/// <summary>Parsed <c>verb --option value --flag</c> arguments; every option must be declared by the verb, so a typo is
/// an error naming it, never silently ignored.</summary>
public sealed class CommandLineArguments
{
    private readonly Dictionary<string, string?> values;
    private readonly HashSet<string> read = new(StringComparer.Ordinal);

    private CommandLineArguments(string verb, Dictionary<string, string?> values)
    {
        Verb = verb;
        this.values = values;
    }

    /// <summary>The verb.</summary>
    public string Verb { get; }

    /// <summary>Parses arguments; <paramref name="options"/> maps each verb to its options (name -> takes a value).</summary>
    public static CommandLineArguments Parse(string[] args, IReadOnlyDictionary<string, IReadOnlyDictionary<string, bool>> options)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            throw new UsageException("usage: moedsl <" + string.Join("|", options.Keys) + "> [options]; moedsl <verb> --help lists a verb's options; " + MoeDslApp.ExitCodes);
        string verb = args[0];
        if (!options.TryGetValue(verb, out var allowed))
            throw new UsageException($"unknown command '{verb}'; commands: {string.Join(", ", options.Keys)}");
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help")
                throw new UsageException($"moedsl {verb} options: {string.Join(" ", allowed.Select(o => o.Value ? $"--{o.Key} VALUE" : $"--{o.Key}"))}; {MoeDslApp.ExitCodes}");
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new UsageException($"unexpected argument '{a}'; options start with --");
            string name = a.Substring(2);
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { inline = name.Substring(eq + 1); name = name.Substring(0, eq); }
            if (!allowed.TryGetValue(name, out bool takesValue))
            {
                string? close = allowed.Keys.OrderBy(k => Distance(k, name)).FirstOrDefault();
                throw new UsageException($"unknown option --{name} for '{verb}'" + (close is not null && Distance(close, name) <= 3 ? $"; did you mean --{close}?" : $"; options: {string.Join(", ", allowed.Keys.Select(k => "--" + k))}"));
            }
            if (values.ContainsKey(name)) throw new UsageException($"option --{name} is given twice");
            if (takesValue)
            {
                string? v = inline ?? (i + 1 < args.Length ? args[++i] : null);
                if (v is null) throw new UsageException($"option --{name} needs a value");
                values[name] = v;
            }
            else
            {
                if (inline is not null) throw new UsageException($"option --{name} takes no value");
                values[name] = null;
            }
        }
        return new CommandLineArguments(verb, values);
    }

    /// <summary>Whether a flag or option was given.</summary>
    public bool Has(string name) { read.Add(name); return values.ContainsKey(name); }

    /// <summary>A string option.</summary>
    public string? String(string name) { read.Add(name); return values.TryGetValue(name, out var v) ? v : null; }

    /// <summary>A required string option.</summary>
    public string RequiredString(string name) => String(name) ?? throw new UsageException($"'{Verb}' needs --{name}");

    /// <summary>An integer option within [min, max].</summary>
    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = String(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) throw new UsageException($"--{name} must be an integer, got '{s}'");
        if (v < min || v > max) throw new UsageException($"--{name} must be in [{min}, {max}], got {v}");
        return v;
    }

    /// <summary>A number option within [min, max].</summary>
    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        string? s = String(name);
        if (s is null) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v)) throw new UsageException($"--{name} must be a number, got '{s}'");
        if (v < min || v > max) throw new UsageException($"--{name} must be in [{min}, {max}], got {v}");
        return v;
    }

    /// <summary>One of a fixed set of words.</summary>
    public string Choice(string name, string fallback, params string[] choices)
    {
        string v = String(name) ?? fallback;
        if (!choices.Contains(v)) throw new UsageException($"--{name} must be one of {string.Join(", ", choices)}, got '{v}'");
        return v;
    }

    /// <summary>A comma-separated list of integers.</summary>
    public long[] Ids(string name)
    {
        string s = RequiredString(name);
        var result = new List<long>();
        foreach (string part in s.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out long id))
                throw new UsageException($"--{name} must be comma-separated token ids (e.g. 1,15,27), got '{part}'");
            result.Add(id);
        }
        return result.ToArray();
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
