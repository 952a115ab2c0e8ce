using System.Collections.Concurrent;
using Microsoft.CodeAnalysis;
using MoeDsl.Generator.Model;

namespace MoeDsl.Generator.Diagnostics
{
    /// <summary>The catalog's rules as Roslyn descriptors (one per rule, made once) and data diagnostics as Roslyn
    /// diagnostics. Generator only: the runtime reports the same rules without Roslyn.</summary>
    internal static class RoslynDescriptors
    {
        private const string Category = "MoeDsl";

        private static readonly ConcurrentDictionary<DiagnosticRule, DiagnosticDescriptor> Made = new ConcurrentDictionary<DiagnosticRule, DiagnosticDescriptor>();

        /// <summary>The descriptor of <paramref name="rule"/>.</summary>
        public static DiagnosticDescriptor ToDescriptor(this DiagnosticRule rule)
            => Made.GetOrAdd(rule, static r => new DiagnosticDescriptor(r.Id, r.Title, r.MessageFormat, Category, Severity(r.Severity),
                isEnabledByDefault: true, description: r.Help, helpLinkUri: r.HelpLink));

        /// <summary>The Roslyn diagnostic of <paramref name="info"/>.</summary>
        public static Diagnostic ToDiagnostic(this DiagnosticInfo info)
            => Diagnostic.Create(info.Descriptor.ToDescriptor(), info.Location?.ToLocation(), info.Arguments.ToArray());

        private static DiagnosticSeverity Severity(RuleSeverity severity) => severity switch
        {
            RuleSeverity.Error => DiagnosticSeverity.Error,
            RuleSeverity.Warning => DiagnosticSeverity.Warning,
            _ => DiagnosticSeverity.Info,
        };
    }
}
