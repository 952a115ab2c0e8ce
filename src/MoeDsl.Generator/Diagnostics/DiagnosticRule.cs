using System.Collections.Generic;
using System.Globalization;
using System.Linq;

#if MOEDSL_GENERATOR
namespace MoeDsl.Generator.Diagnostics
#else
namespace MoeDsl.Runtime.Declarations.Diagnostics
#endif
{
    /// <summary>How serious a <see cref="DiagnosticRule"/> is.</summary>
    internal enum RuleSeverity
    {
        Info,
        Warning,
        Error,
    }

    /// <summary>One rule of the DSL's catalog as plain data: id, title, message format, severity and the fix. The generator
    /// reports it as a Roslyn diagnostic; the runtime (JSON declaration specs, linked source) as a one-line error. Compiled
    /// into both, so a rule and its message exist once.</summary>
    internal sealed class DiagnosticRule
    {
        public DiagnosticRule(string id, string title, string messageFormat, RuleSeverity severity, string help)
        {
            Id = id;
            Title = title;
            MessageFormat = messageFormat;
            Severity = severity;
            Help = help;
        }

        /// <summary>"MOE021".</summary>
        public string Id { get; }
        /// <summary>Short title (the docs' heading line).</summary>
        public string Title { get; }
        /// <summary>Composite format of the message ({0}, {1}... are the arguments).</summary>
        public string MessageFormat { get; }
        /// <summary>Error, warning or info.</summary>
        public RuleSeverity Severity { get; }
        /// <summary>What to do about it (the descriptor's description).</summary>
        public string Help { get; }
        /// <summary>The id's section of docs/diagnostics.md.</summary>
        public string HelpLink => DiagnosticDescriptors.HelpLink(Id);

        /// <summary>The message with <paramref name="arguments"/> filled in.</summary>
        public string Format(IEnumerable<string> arguments)
            => string.Format(CultureInfo.InvariantCulture, MessageFormat, arguments.Cast<object>().ToArray());
    }
}
