using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MoeDsl.Runtime.Data.Templates;

/// <summary>A name or member the values do not have (Jinja2's <c>Undefined</c>): renders as "", is false, fails
/// <c>is defined</c>; using a member of it is an error.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Instance = new();

    private Undefined()
    {
    }
}

/// <summary>What <c>namespace(...)</c> makes: the one object a template may change (<c>{% set ns.x = ... %}</c>).</summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Values { get; } = new(StringComparer.Ordinal);
}

/// <summary>A function a template may call: the built-ins and the methods of strings.</summary>
internal sealed class JinjaFunction
{
    public JinjaFunction(string name, Func<IReadOnlyList<object?>, IReadOnlyList<(string Name, object? Value)>, int, object?> invoke)
    {
        Name = name;
        Invoke = invoke;
    }

    public string Name { get; }
    public Func<IReadOnlyList<object?>, IReadOnlyList<(string Name, object? Value)>, int, object?> Invoke { get; }
}

/// <summary>The value model a template sees: null (None), <see cref="Undefined"/>, bool, long, double, string, lists
/// (<see cref="List{T}"/> of values), mappings (<see cref="Dictionary{TKey,TValue}"/> by string key, in insertion order),
/// <see cref="JinjaNamespace"/> and <see cref="JinjaFunction"/>. Values given from outside are converted into it
/// (<see cref="FromClr"/>, <see cref="FromJson"/>), so a template reaches nothing but data: no .NET object, member or
/// method.</summary>
internal static class JinjaValues
{
    public static object? FromClr(object? value, int depth = 0)
    {
        if (depth > 64) throw new ArgumentException("template values are nested deeper than 64 levels");
        switch (value)
        {
            case null: return null;
            case string or bool or long or double: return value;
            case int i: return (long)i;
            case float f: return (double)f;
            case JsonElement e: return FromJson(e, depth);
            case IDictionary<string, object?> map:
            {
                var d = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, v) in map) d[k] = FromClr(v, depth + 1);
                return d;
            }
            case IReadOnlyDictionary<string, string> smap:
            {
                var d = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, v) in smap) d[k] = v;
                return d;
            }
            case IEnumerable list:
            {
                var l = new List<object?>();
                foreach (object? x in list) l.Add(FromClr(x, depth + 1));
                return l;
            }
            default:
                throw new ArgumentException($"a template value must be a string, number, bool, null, list or string-keyed mapping; got {value.GetType().Name}");
        }
    }

    public static object? FromJson(JsonElement e, int depth = 0)
    {
        if (depth > 64) throw new ArgumentException("template values are nested deeper than 64 levels");
        switch (e.ValueKind)
        {
            case JsonValueKind.String: return e.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null: return null;
            case JsonValueKind.Number: return e.TryGetInt64(out long n) ? n : e.GetDouble();
            case JsonValueKind.Array:
            {
                var l = new List<object?>();
                foreach (JsonElement x in e.EnumerateArray()) l.Add(FromJson(x, depth + 1));
                return l;
            }
            case JsonValueKind.Object:
            {
                var d = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (JsonProperty p in e.EnumerateObject()) d[p.Name] = FromJson(p.Value, depth + 1);
                return d;
            }
            default: return Undefined.Instance;
        }
    }

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        Undefined => false,
        bool b => b,
        long n => n != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dictionary<string, object?> m => m.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "none",
        Undefined => "undefined",
        bool => "boolean",
        long => "integer",
        double => "float",
        string => "string",
        List<object?> => "list",
        Dictionary<string, object?> => "mapping",
        JinjaNamespace => "namespace",
        JinjaFunction => "function",
        _ => "object",
    };

    /// <summary>What <c>{{ value }}</c> prints (Python's <c>str</c>, as transformers' Jinja2 prints it).</summary>
    public static string ToOutput(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v, top: true),
    };

    private static string Repr(object? v, bool top)
    {
        switch (v)
        {
            case null: return "None";
            case Undefined: return "";
            case bool b: return b ? "True" : "False";
            case long n: return n.ToString(CultureInfo.InvariantCulture);
            case double d:
                if (double.IsNaN(d)) return "nan";
                if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
                return d == Math.Floor(d) && Math.Abs(d) < 1e16 ? d.ToString("0.0", CultureInfo.InvariantCulture) : d.ToString("R", CultureInfo.InvariantCulture);
            case string s: return top ? s : "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
            case List<object?> l:
            {
                var sb = new StringBuilder("[");
                for (int i = 0; i < l.Count; i++) sb.Append(i == 0 ? "" : ", ").Append(Repr(l[i], false));
                return sb.Append(']').ToString();
            }
            case Dictionary<string, object?> m:
            {
                var sb = new StringBuilder("{");
                bool first = true;
                foreach (var (k, x) in m)
                {
                    sb.Append(first ? "" : ", ").Append(Repr(k, false)).Append(": ").Append(Repr(x, false));
                    first = false;
                }
                return sb.Append('}').ToString();
            }
            case JinjaNamespace: return "<Namespace>";
            case JinjaFunction f: return $"<function {f.Name}>";
            default: return v.ToString() ?? "";
        }
    }

    /// <summary>The <c>tojson</c> filter: JSON as Python's <c>json.dumps(value, ensure_ascii=False)</c> writes it
    /// (<c>", "</c> and <c>": "</c> separators), which is what transformers' chat templates get.</summary>
    public static void ToJson(object? v, StringBuilder sb, int depth = 0)
    {
        if (depth > 64) throw new ArgumentException("value is nested too deeply for tojson");
        switch (v)
        {
            case null or Undefined: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long n: sb.Append(n.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(Repr(d, false)); break;
            case string s:
                sb.Append('"');
                foreach (char c in s)
                {
                    switch (c)
                    {
                        case '"': sb.Append("\\\""); break;
                        case '\\': sb.Append("\\\\"); break;
                        case '\n': sb.Append("\\n"); break;
                        case '\r': sb.Append("\\r"); break;
                        case '\t': sb.Append("\\t"); break;
                        case '\b': sb.Append("\\b"); break;
                        case '\f': sb.Append("\\f"); break;
                        default:
                            if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                            else sb.Append(c);
                            break;
                    }
                }
                sb.Append('"');
                break;
            case List<object?> l:
                sb.Append('[');
                for (int i = 0; i < l.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    ToJson(l[i], sb, depth + 1);
                }
                sb.Append(']');
                break;
            case Dictionary<string, object?> m:
            {
                sb.Append('{');
                bool first = true;
                foreach (var (k, x) in m)
                {
                    if (!first) sb.Append(", ");
                    ToJson(k, sb, depth + 1);
                    sb.Append(": ");
                    ToJson(x, sb, depth + 1);
                    first = false;
                }
                sb.Append('}');
                break;
            }
            default: throw new ArgumentException($"a {TypeName(v)} cannot be written as JSON");
        }
    }
}
