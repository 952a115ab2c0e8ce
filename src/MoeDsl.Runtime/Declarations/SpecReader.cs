using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using MoeDsl.Runtime.Declarations.Model;
using MoeDsl.Runtime.Declarations.Diagnostics;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;

namespace MoeDsl.Runtime.Declarations;

/// <summary>A JSON declaration spec -> the generator's <see cref="ParsedDeclaration"/>, the form the shared validator
/// checks. The fields are the attributes' own: an object per attribute named like it (MoeModel, BaseModel,
/// ExpertsPerLayer, Router, Lora, LoadBalance, GraphLosses), holding its constructor parameters and settable properties
/// under their names, read by reflection from the attribute classes (so the spec cannot drift from the DSL). Names match
/// without regard to case. What the C# compiler would reject (an unknown name, a wrong type, a missing router kind) is
/// reported here, MOE081-MOE083; everything else is left to the validator.</summary>
internal sealed class SpecReader
{
    /// <summary>The attribute classes, in the order the C# parser knows them.</summary>
    private static readonly Type[] AttributeTypes =
    {
        typeof(MoeModelAttribute), typeof(BaseModelAttribute), typeof(ExpertsPerLayerAttribute), typeof(RouterAttribute),
        typeof(LoraAttribute), typeof(LoadBalanceAttribute), typeof(GraphLossesAttribute),
    };

    /// <summary>The spec's own field beside the attributes: the model's name (default: the file name).</summary>
    public const string NameField = "Name";

    private readonly List<DiagnosticInfo> diagnostics = new();

    /// <summary>What went wrong while reading (errors the validator never sees).</summary>
    public IReadOnlyList<DiagnosticInfo> Diagnostics => diagnostics;

    /// <summary>The spec as a parsed declaration; null when it is not a JSON object (MOE080). <paramref name="name"/>: the
    /// model name when the spec gives none.</summary>
    public ParsedDeclaration? Read(JsonElement root, string name)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            Report(D.SpecInvalidJson, "", $"the top level is {Describe(root)}, not an object of attributes");
            return null;
        }
        var attributes = new List<ParsedAttribute>();
        string[] known = AttributeTypes.Select(AttributeName).Append(NameField).ToArray();
        foreach (JsonProperty field in root.EnumerateObject())
        {
            if (string.Equals(field.Name, NameField, StringComparison.OrdinalIgnoreCase))
            {
                if (field.Value.ValueKind == JsonValueKind.String && field.Value.GetString() is { Length: > 0 } given) name = given;
                else Report(D.SpecWrongType, field.Name, field.Name, "a non-empty string", Describe(field.Value));
                continue;
            }
            Type? type = AttributeTypes.FirstOrDefault(t => string.Equals(AttributeName(t), field.Name, StringComparison.OrdinalIgnoreCase));
            if (type is null)
            {
                Report(D.SpecUnknownField, field.Name, field.Name, "the spec", string.Join(", ", known));
                continue;
            }
            if (ReadAttribute(type, field) is { } attribute) attributes.Add(attribute);
        }
        // [MoeModel] is what makes a class a declaration; a spec is one by being a spec.
        if (!attributes.Any(a => a.Name == AttributeName(typeof(MoeModelAttribute))))
            attributes.Insert(0, new ParsedAttribute(AttributeName(typeof(MoeModelAttribute)), new LocationInfo(""), false, EquatableArray<ParsedArgument>.Empty));
        return new ParsedDeclaration(null, name, name, new LocationInfo(""), "class", IsPartial: true, IsGeneric: false, IsStatic: false,
            IsAbstract: false, ExplicitBaseType: null, EquatableArray<ContainingTypeInfo>.Empty, new EquatableArray<ParsedAttribute>(attributes.ToArray()), null);
    }

    private static string AttributeName(Type t) => t.Name.Substring(0, t.Name.Length - "Attribute".Length);

    /// <summary>The arguments an attribute takes: constructor parameters and settable properties, by name and type.</summary>
    private static List<(string Name, Type Type)> Arguments(Type attribute)
    {
        var args = new List<(string, Type)>();
        foreach (ConstructorInfo c in attribute.GetConstructors())
            foreach (ParameterInfo p in c.GetParameters())
                if (!args.Any(a => a.Item1 == p.Name)) args.Add((p.Name!, p.ParameterType));
        foreach (PropertyInfo p in attribute.GetProperties())
            if (p.SetMethod is { IsPublic: true }) args.Add((p.Name, p.PropertyType));
        return args;
    }

    private ParsedAttribute? ReadAttribute(Type type, JsonProperty field)
    {
        string name = AttributeName(type);
        var location = new LocationInfo(name);
        if (field.Value.ValueKind != JsonValueKind.Object)
        {
            Report(D.SpecWrongType, name, name, "an object of its arguments ({} for none)", Describe(field.Value));
            return null;
        }
        List<(string Name, Type Type)> accepted = Arguments(type);
        var arguments = new List<ParsedArgument>();
        bool ok = true;
        foreach (JsonProperty arg in field.Value.EnumerateObject())
        {
            string path = name + "." + arg.Name;
            int index = accepted.FindIndex(a => string.Equals(a.Name, arg.Name, StringComparison.OrdinalIgnoreCase));
            if (index < 0)
            {
                Report(D.SpecUnknownField, path, arg.Name, name, string.Join(", ", accepted.Select(a => a.Name)));
                ok = false;
                continue;
            }
            var (canonical, argType) = accepted[index];
            path = name + "." + canonical;
            if (arguments.Any(a => a.Name == canonical))
            {
                Report(D.SpecFieldConflict, path, path, "is given twice");
                ok = false;
                continue;
            }
            ParsedValue? value = ReadValue(arg.Value, argType, path, out EquatableArray<LocationInfo> elements);
            if (value is null) { ok = false; continue; }
            arguments.Add(new ParsedArgument(canonical, value, new LocationInfo(path), elements));
        }
        if (type == typeof(RouterAttribute) && !arguments.Any(a => a.Name == "kind"))
        {
            Report(D.SpecFieldConflict, name + ".kind", name + ".kind", "is missing; give the router kind (" + string.Join(", ", Enum.GetNames<RouterKind>()) + ")");
            ok = false;
        }
        if (type == typeof(ExpertsPerLayerAttribute))
        {
            bool counts = arguments.Any(a => a.Name == "counts"), preset = arguments.Any(a => a.Name == "preset");
            if (counts && preset)
            {
                Report(D.SpecFieldConflict, name, name, "gives both counts and preset; give one");
                ok = false;
            }
            // [ExpertsPerLayer] with neither is the params constructor with no counts (MOE010), as in C#.
            else if (!counts && !preset) arguments.Insert(0, new ParsedArgument("counts", ParsedValue.FromInts(Array.Empty<int>()), location, EquatableArray<LocationInfo>.Empty));
        }
        return new ParsedAttribute(name, location, CompilerError: !ok, new EquatableArray<ParsedArgument>(arguments.ToArray()));
    }

    /// <summary>One argument's value as the C# compiler would bind it; null (and a diagnostic) when the JSON type is wrong.</summary>
    private ParsedValue? ReadValue(JsonElement v, Type type, string path, out EquatableArray<LocationInfo> elements)
    {
        elements = EquatableArray<LocationInfo>.Empty;
        Type t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(int))
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? ParsedValue.FromInt(i) : Wrong(path, "an integer in the Int32 range", v);
        if (t == typeof(double))
            return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) ? ParsedValue.FromDouble(d) : Wrong(path, "a number", v);
        if (t == typeof(bool))
            return v.ValueKind is JsonValueKind.True or JsonValueKind.False ? ParsedValue.FromBool(v.GetBoolean()) : Wrong(path, "true or false", v);
        if (t == typeof(string))
            return v.ValueKind == JsonValueKind.String ? ParsedValue.FromString(v.GetString()!) : v.ValueKind == JsonValueKind.Null ? ParsedValue.NullValue : Wrong(path, "a string", v);
        if (t == typeof(int[]))
        {
            if (v.ValueKind == JsonValueKind.Null) return ParsedValue.NullValue;
            if (v.ValueKind != JsonValueKind.Array) return Wrong(path, "an array of integers", v);
            var values = new List<int>();
            var where = new List<LocationInfo>();
            foreach (JsonElement e in v.EnumerateArray())
            {
                string at = $"{path}[{values.Count}]";
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int x)) return Wrong(at, "an integer in the Int32 range", e);
                values.Add(x);
                where.Add(new LocationInfo(at));
            }
            elements = new EquatableArray<LocationInfo>(where.ToArray());
            return ParsedValue.FromInts(values.ToArray());
        }
        if (t.IsEnum) return ReadEnum(v, t, path);
        return Wrong(path, "a value this reader knows", v);   // an attribute argument type added without a reader
    }

    /// <summary>An enum by name ("EveryProjection"; flags also as "Q | V" or ["Q", "V"]) or, as a C# cast would give it,
    /// by number; an unknown name is MOE008, as an undefined value is for the validator.</summary>
    private ParsedValue? ReadEnum(JsonElement v, Type t, string path)
    {
        bool flags = t.IsDefined(typeof(FlagsAttribute), false);
        if (v.ValueKind == JsonValueKind.Number)
            return v.TryGetInt32(out int n) ? ParsedValue.FromEnum(n) : Wrong(path, $"a {t.Name} name", v);
        IEnumerable<string>? names = v.ValueKind switch
        {
            JsonValueKind.String => flags ? v.GetString()!.Split('|') : new[] { v.GetString()! },
            JsonValueKind.Array when flags && v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => v.EnumerateArray().Select(e => e.GetString()!),
            _ => null,
        };
        if (names is null) return Wrong(path, flags ? $"{t.Name} names (\"Q | V\" or [\"Q\", \"V\"])" : $"a {t.Name} name", v);
        long value = 0;
        foreach (string raw in names)
        {
            string part = raw.Trim();
            if (part.StartsWith(t.Name + ".", StringComparison.Ordinal)) part = part.Substring(t.Name.Length + 1);
            string? match = Enum.GetNames(t).FirstOrDefault(n => string.Equals(n, part, StringComparison.OrdinalIgnoreCase));
            if (match is null)
            {
                string field = path.Substring(path.LastIndexOf('.') + 1);
                Report(D.UndefinedEnumValue, path, field, "\"" + raw + "\"", t.Name, string.Join(", ", Enum.GetNames(t)));
                return null;
            }
            value |= Convert.ToInt64(Enum.Parse(t, match), CultureInfo.InvariantCulture);
        }
        return ParsedValue.FromEnum(value);
    }

    private ParsedValue? Wrong(string path, string expected, JsonElement got)
    {
        Report(D.SpecWrongType, path, path, expected, Describe(got));
        return null;
    }

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "the string \"" + v.GetString() + "\"",
        JsonValueKind.Number => "the number " + v.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => "null",
    };

    private void Report(DiagnosticRule rule, string field, params object[] args)
        => diagnostics.Add(DiagnosticInfo.Create(rule, new LocationInfo(field), args));
}
