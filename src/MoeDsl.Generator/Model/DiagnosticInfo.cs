using Microsoft.CodeAnalysis;

namespace MoeDsl.Generator.Model
{
    /// <summary>A diagnostic as data: the descriptor, where (as data) and the message arguments.</summary>
    internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
    {
        public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] arguments)
        {
            var texts = new string[arguments.Length];
            for (int i = 0; i < arguments.Length; i++)
                texts[i] = arguments[i] is System.IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : arguments[i]?.ToString() ?? "";
            return new DiagnosticInfo(descriptor, location, new EquatableArray<string>(texts));
        }

        public Diagnostic ToDiagnostic()
            => Diagnostic.Create(Descriptor, Location?.ToLocation(), Arguments.ToArray());
    }
}
