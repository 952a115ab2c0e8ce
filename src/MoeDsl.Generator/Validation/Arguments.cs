
#if MOEDSL_GENERATOR
using MoeDsl.Generator.Model;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Generator.Validation
#else
using MoeDsl.Runtime.Declarations.Model;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Runtime.Declarations.Validation
#endif
{
    /// <summary>Reading attribute arguments: their values with the DSL's defaults, and where to report about them.</summary>
    internal sealed partial class Validator
    {
        private LocationInfo? Loc(ParsedAttribute? a, string name) => a?.Find(name)?.Location ?? a?.Location ?? decl.ClassLocation;

        private static LocationInfo? ElementLoc(ParsedArgument? arg, int index)
            => arg is not null && index < arg.ElementLocations.Count ? arg.ElementLocations[index] : arg?.Location;

        private static bool Given(ParsedAttribute? a, string name) => a?.Find(name) is not null;

        private static int Int(ParsedAttribute? a, string name, int fallback)
            => a?.Find(name)?.Value is { Kind: ValueKind.Int or ValueKind.Enum } v && v.Int >= int.MinValue && v.Int <= int.MaxValue ? (int)v.Int : fallback;

        private static int[]? Ints(ParsedAttribute? a, string name)
            => a?.Find(name)?.Value is { Kind: ValueKind.IntArray } v ? v.Ints.ToArray() : null;

        /// <summary>A double argument; NaN and infinities are reported (MOE009) and replaced by <paramref name="fallback"/>.</summary>
        private double Double(ParsedAttribute? a, string name, double fallback, out bool ok)
        {
            ok = true;
            ParsedArgument? arg = a?.Find(name);
            if (arg is null) return fallback;
            double v = arg.Value.Kind switch { ValueKind.Double => arg.Value.Double, ValueKind.Int => arg.Value.Int, _ => fallback };
            if (double.IsNaN(v) || double.IsInfinity(v))
            {
                Report(D.NotFinite, arg.Location ?? a!.Location, name, double.IsNaN(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity");
                ok = false;
                return fallback;
            }
            return v;
        }

        /// <summary>An enum argument; a value the enum does not define is reported (MOE008) and gives null.</summary>
        private T? Enum<T>(ParsedAttribute? a, string name, T fallback) where T : struct
        {
            ParsedArgument? arg = a?.Find(name);
            if (arg is null) return fallback;
            long v = arg.Value.Int;
            if (v < int.MinValue || v > int.MaxValue || !System.Enum.IsDefined(typeof(T), (int)v))
            {
                Report(D.UndefinedEnumValue, arg.Location ?? a!.Location, name, v, typeof(T).Name, string.Join(", ", Dsl.Names<T>()));
                return null;
            }
            return (T)System.Enum.ToObject(typeof(T), (int)v);
        }
    }
}
