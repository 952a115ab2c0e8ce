
#if MOEDSL_GENERATOR
using MoeDsl.Generator.Diagnostics;
namespace MoeDsl.Generator.Model
#else
using MoeDsl.Runtime.Declarations.Diagnostics;
namespace MoeDsl.Runtime.Declarations.Model
#endif
{
    /// <summary>A diagnostic as data: the rule, where (as data) and the message arguments.</summary>
    internal sealed record DiagnosticInfo(DiagnosticRule Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
    {
        public static DiagnosticInfo Create(DiagnosticRule descriptor, LocationInfo? location, params object[] arguments)
        {
            var texts = new string[arguments.Length];
            for (int i = 0; i < arguments.Length; i++)
                texts[i] = arguments[i] is System.IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : arguments[i]?.ToString() ?? "";
            return new DiagnosticInfo(descriptor, location, new EquatableArray<string>(texts));
        }

        /// <summary>The message with the arguments filled in.</summary>
        public string Message => Descriptor.Format(Arguments);
    }
}
