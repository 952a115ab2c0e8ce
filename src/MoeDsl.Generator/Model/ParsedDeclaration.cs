using System;

#if MOEDSL_GENERATOR
namespace MoeDsl.Generator.Model
#else
namespace MoeDsl.Runtime.Declarations.Model
#endif
{
    /// <summary>What kind of constant an attribute argument holds after the compiler bound it.</summary>
    internal enum ValueKind
    {
        /// <summary>The compiler could not bind it (it reports the error itself).</summary>
        Error,
        Null,
        Int,
        Double,
        Bool,
        String,
        /// <summary>An enum constant; <see cref="ParsedValue.Int"/> holds its underlying value.</summary>
        Enum,
        IntArray,
    }

    /// <summary>A bound attribute argument constant.</summary>
    internal sealed record ParsedValue(ValueKind Kind, long Int, double Double, string? Text, EquatableArray<int> Ints)
    {
        public static readonly ParsedValue ErrorValue = new ParsedValue(ValueKind.Error, 0, 0, null, EquatableArray<int>.Empty);
        public static readonly ParsedValue NullValue = new ParsedValue(ValueKind.Null, 0, 0, null, EquatableArray<int>.Empty);
        public static ParsedValue FromInt(long v) => new ParsedValue(ValueKind.Int, v, v, null, EquatableArray<int>.Empty);
        public static ParsedValue FromEnum(long v) => new ParsedValue(ValueKind.Enum, v, v, null, EquatableArray<int>.Empty);
        public static ParsedValue FromDouble(double v) => new ParsedValue(ValueKind.Double, 0, v, null, EquatableArray<int>.Empty);
        public static ParsedValue FromBool(bool v) => new ParsedValue(ValueKind.Bool, v ? 1 : 0, 0, null, EquatableArray<int>.Empty);
        public static ParsedValue FromString(string v) => new ParsedValue(ValueKind.String, 0, 0, v, EquatableArray<int>.Empty);
        public static ParsedValue FromInts(int[] v) => new ParsedValue(ValueKind.IntArray, 0, 0, null, new EquatableArray<int>(v));
    }

    /// <summary>One argument as written: its parameter/property name, its constant, where it is (the whole
    /// <c>Name = value</c> for named arguments), and for an expanded <c>params</c> array where each element is.</summary>
    internal sealed record ParsedArgument(string Name, ParsedValue Value, LocationInfo? Location, EquatableArray<LocationInfo> ElementLocations);

    /// <summary>One MoeDsl attribute application. <paramref name="CompilerError"/>: the compiler could not bind it (wrong
    /// argument types, unknown property...) and reports that itself; its values are not used.</summary>
    internal sealed record ParsedAttribute(string Name, LocationInfo? Location, bool CompilerError, EquatableArray<ParsedArgument> Arguments)
    {
        public ParsedArgument? Find(string name)
        {
            foreach (ParsedArgument a in Arguments)
                if (string.Equals(a.Name, name, StringComparison.Ordinal)) return a;
            return null;
        }
    }

    /// <summary>A type the declaration is nested in. <paramref name="TypeParameters"/>: its own type parameters as
    /// written after the name ("&lt;T&gt;"), empty when it has none; <paramref name="IsFile"/>: declared <c>file</c>.</summary>
    internal sealed record ContainingTypeInfo(string Keyword, string Name, bool IsPartial, LocationInfo? Location, string TypeParameters = "", bool IsFile = false)
    {
        /// <summary>The name with its type parameters, as messages write it ("Outer&lt;T&gt;").</summary>
        public string DisplayName => Name + TypeParameters;
    }

    /// <summary>A member the user declared in the model class (any partial declaration) under a name that the generated
    /// code also uses (see <c>GeneratedMembers</c>). <paramref name="Signature"/>: for a method or constructor its
    /// parameter types ("(int)", fully qualified, ref kinds and generic arity included), null for any other member;
    /// <paramref name="Description"/>: how a message names it ("property 'Layers'").</summary>
    internal sealed record ParsedMember(string Name, string? Signature, string Description, LocationInfo? Location);

    /// <summary>The declared class and its MoeDsl attributes, as data. <paramref name="IsGeneric"/>: the class has type
    /// parameters of its own (a generic containing type is in <paramref name="ContainingTypes"/>); <see cref="IsFile"/>:
    /// the class is declared <c>file</c>; <see cref="Members"/>: the user's members named like generated ones.</summary>
    internal sealed record ParsedDeclaration(
        string? Namespace,
        string ClassName,
        string HintName,
        LocationInfo? ClassLocation,
        string Kind,
        bool IsPartial,
        bool IsGeneric,
        bool IsStatic,
        bool IsAbstract,
        string? ExplicitBaseType,
        EquatableArray<ContainingTypeInfo> ContainingTypes,
        EquatableArray<ParsedAttribute> Attributes,
        string? InternalError)
    {
        public bool IsFile { get; init; }

        public EquatableArray<ParsedMember> Members { get; init; } = EquatableArray<ParsedMember>.Empty;
    }

    /// <summary>What the referenced MoeDsl.Runtime offers (checked by metadata name, never loaded).</summary>
    internal sealed record RuntimeInfo(bool HasRuntime, bool HasTopP, bool HasSwitch, bool HasSoft, bool HasGraph);

    /// <summary>An AdditionalFiles entry that may be a config.json.</summary>
    internal sealed record AdditionalFileInfo(string Path, string? Text);

    /// <summary>The JSON AdditionalFiles of the compilation and the declaring project's folder (MSBuild's ProjectDir;
    /// null when the build does not pass it), against which a ConfigFile path is resolved.</summary>
    internal sealed record AdditionalFiles(string? ProjectDirectory, EquatableArray<AdditionalFileInfo> Files)
    {
        /// <summary>The declaration is a JSON spec: ProjectDirectory is the spec's folder, and a ConfigFile that is not
        /// in <see cref="Files"/> is a missing file (MOE084), not a missing AdditionalFiles item (MOE044).</summary>
        public bool FromSpec { get; init; }
    }
}
