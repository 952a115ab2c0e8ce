using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Linq;

namespace MoeDsl.Cli;

/// <summary>A command-line error: the message is shown as one line and the process exits with code 2.</summary>
public sealed class UsageException : Exception
{
    /// <summary>A usage error whose <paramref name="message"/> is the one line shown to the user.</summary>
    public UsageException(string message) : base(message) { }
}

/// <summary>The parsed arguments of one verb (System.CommandLine over <see cref="CliOptions"/>): typed, range-checked
/// reads whose failures name the option. Every option must be declared by the verb, so a typo is an error naming it
/// (with the closest option), never silently ignored.</summary>
public sealed class CommandLineArguments
{
    private readonly ParseResult result;
    private readonly IReadOnlyDictionary<string, Option> options;

    private CommandLineArguments(string verb, ParseResult result, IReadOnlyDictionary<string, Option> options)
    {
        Verb = verb;
        this.result = result;
        this.options = options;
    }

    /// <summary>The verb.</summary>
    public string Verb { get; }

    /// <summary>The command tree: one command per <see cref="CliOptions.Verbs"/> entry with its options (descriptions,
    /// defaults, required markers, completions of fixed choices and of <paramref name="methodNames"/>), each running
    /// <paramref name="run"/>. Help (<c>-h</c>, <c>--help</c>) ends with the exit codes and exits 0; response files
    /// (<c>@file</c>) and the <c>[suggest]</c> completion directive are System.CommandLine's.</summary>
    public static RootCommand Build(IReadOnlyList<string> methodNames, Func<CommandLineArguments, int> run)
    {
        ArgumentNullException.ThrowIfNull(methodNames);
        ArgumentNullException.ThrowIfNull(run);
        var root = new RootCommand("moedsl: LoRA mixture-of-experts fine-tuning of LLaMA-family checkpoints. 'moedsl <command> --help' describes a command.");
        foreach (CliVerb verb in CliOptions.Verbs)
        {
            var command = new Command(verb.Name, verb.Description);
            var byName = new Dictionary<string, Option>(StringComparer.Ordinal);
            foreach (var (name, required) in verb.Options.Concat(CliOptions.Common.Select(c => (c, false))))
            {
                Option option = Create(CliOptions.All[name], verb.Name, required, name == "method" ? methodNames : null);
                command.Options.Add(option);
                byName[name] = option;
            }
            command.SetAction(parsed => run(new CommandLineArguments(verb.Name, parsed, byName)));
            root.Subcommands.Add(command);
        }
        foreach (HelpOption help in root.Options.OfType<HelpOption>())
            if (help.Action is SynchronousCommandLineAction standard) help.Action = new HelpWithExitCodes(standard);
        return root;
    }

    private static Option Create(CliOption o, string verb, bool required, IReadOnlyList<string>? completions)
    {
        if (o.IsFlag) return new Option<bool>("--" + o.Name) { Description = o.Description };
        var option = new Option<string>("--" + o.Name)
        {
            Description = o.Description,
            HelpName = o.Choices is null ? o.ValueName : string.Join("|", o.Choices),
            Required = required,
        };
        if (CliOptions.DefaultFor(verb, o.Name) is string fallback) option.DefaultValueFactory = _ => fallback;
        if (o.Choices is not null) option.CompletionSources.Add(o.Choices.ToArray());
        if (completions is not null) option.CompletionSources.Add(completions.ToArray());
        return option;
    }

    /// <summary>The one-line error of a parse that failed (null when it did not, or when help or a directive runs): an
    /// unknown command or option named with the closest match, or System.CommandLine's messages joined.</summary>
    public static string? ErrorOf(ParseResult parsed, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        ArgumentNullException.ThrowIfNull(args);
        if (parsed.Errors.Count == 0 || parsed.Action is { ClearsParseErrors: true }) return null;
        string[] verbs = CliOptions.Verbs.Select(v => v.Name).ToArray();
        if (args.Count == 0)
            return $"usage: moedsl <{string.Join("|", verbs)}> [options]; 'moedsl <command> --help' describes a command's options; {MoeDslApp.ExitCodes}";
        Command command = parsed.CommandResult.Command;
        if (parsed.UnmatchedTokens.Count > 0)
        {
            string token = parsed.UnmatchedTokens[0];
            if (command is RootCommand) return $"unknown command '{token}'; commands: {string.Join(", ", verbs)}";
            if (!token.StartsWith('-')) return $"unexpected argument '{token}'; options start with --";
            string name = token.TrimStart('-').Split('=', 2)[0];
            string[] known = command.Options.Where(o => o is not HelpOption).Select(o => o.Name.TrimStart('-')).ToArray();
            string? close = known.OrderBy(k => Distance(k, name)).FirstOrDefault();
            return $"unknown option --{name} for '{command.Name}'" + (close is not null && Distance(close, name) <= 3
                ? $"; did you mean --{close}?" : $"; options: {string.Join(", ", known.Select(k => "--" + k))}");
        }
        return string.Join("; ", parsed.Errors.Select(e => e.Message.TrimEnd('.')));
    }

    private Option OptionOf(string name)
        => options.TryGetValue(name, out Option? o) ? o : throw new InvalidOperationException($"'{Verb}' declares no --{name} (add it to CliOptions.Verbs)");

    /// <summary>Whether a flag is set, or an option was given (not merely defaulted).</summary>
    public bool Has(string name)
    {
        Option option = OptionOf(name);
        if (option is Option<bool> flag) return result.GetValue(flag);
        return result.GetResult(option) is { Implicit: false };
    }

    /// <summary>A string option: its value, else its default, else null.</summary>
    public string? String(string name) => OptionOf(name) is Option<string> o ? result.GetValue(o) : throw new InvalidOperationException($"--{name} is a flag");

    /// <summary>A required string option.</summary>
    public string RequiredString(string name) => String(name) ?? throw new UsageException($"'{Verb}' needs --{name}");

    /// <summary>An integer option (its value or default) within [min, max].</summary>
    public int Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        string s = RequiredString(name);
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) throw new UsageException($"--{name} must be an integer, got '{s}'");
        if (v < min || v > max) throw new UsageException($"--{name} must be in [{min}, {max}], got {v}");
        return v;
    }

    /// <summary>A number option (its value or default) within [min, max].</summary>
    public double Double(string name, double min = double.MinValue, double max = double.MaxValue)
    {
        string s = RequiredString(name);
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v)) throw new UsageException($"--{name} must be a number, got '{s}'");
        if (v < min || v > max) throw new UsageException($"--{name} must be in [{min}, {max}], got {v}");
        return v;
    }

    /// <summary>One of the option's fixed words (its value or default).</summary>
    public string Choice(string name)
    {
        IReadOnlyList<string> choices = CliOptions.All[name].Choices ?? throw new InvalidOperationException($"--{name} has no fixed choices");
        string v = RequiredString(name);
        if (!choices.Contains(v)) throw new UsageException($"--{name} must be one of {string.Join(", ", choices)}, got '{v}'");
        return v;
    }

    /// <summary>A comma-separated list of integers.</summary>
    public long[] Ids(string name)
    {
        string s = RequiredString(name);
        var ids = new List<long>();
        foreach (string part in s.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out long id))
                throw new UsageException($"--{name} must be comma-separated token ids (e.g. 1,15,27), got '{part}'");
            ids.Add(id);
        }
        return ids.ToArray();
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

    /// <summary>System.CommandLine's help followed by the exit codes; exits 0.</summary>
    private sealed class HelpWithExitCodes(SynchronousCommandLineAction standard) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            standard.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(MoeDslApp.ExitCodes);
            return 0;
        }
    }
}
