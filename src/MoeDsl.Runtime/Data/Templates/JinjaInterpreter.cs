using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace MoeDsl.Runtime.Data.Templates;

/// <summary>Renders parsed statements over values. Built-ins are what the chat templates of Llama 3, Qwen3 and Gemma 3
/// use: functions <c>raise_exception</c> and <c>namespace</c>; filters <c>length</c>, <c>trim</c>, <c>tojson</c>; tests
/// <c>string</c>, <c>defined</c>, <c>undefined</c>, <c>none</c>, <c>true</c>, <c>false</c>, <c>iterable</c>; string
/// methods <c>startswith</c>, <c>endswith</c>, <c>split</c>, <c>strip</c>, <c>lstrip</c>, <c>rstrip</c>; <c>loop.index0</c>,
/// <c>index</c>, <c>first</c>, <c>last</c>, <c>length</c>, <c>revindex</c>, <c>revindex0</c>. Any other filter, test,
/// function or method is a <see cref="TemplateException"/> naming it and the line. Scoping is Jinja2's: a <c>set</c>
/// inside a loop does not leave the loop (hence <c>namespace</c>).</summary>
internal sealed class JinjaInterpreter
{
    private readonly string name;
    private readonly TemplateLimits limits;
    private readonly StringBuilder output = new();
    private int iterations;
    private int depth;

    private JinjaInterpreter(string name, TemplateLimits limits)
    {
        this.name = name;
        this.limits = limits;
    }

    private sealed class Scope
    {
        private readonly Dictionary<string, object?> values = new(StringComparer.Ordinal);
        private readonly Scope? parent;

        public Scope(Scope? parent) => this.parent = parent;

        public object? Lookup(string key)
        {
            for (Scope? s = this; s is not null; s = s.parent)
                if (s.values.TryGetValue(key, out object? v)) return v;
            return Undefined.Instance;
        }

        public void Set(string key, object? value) => values[key] = value;
    }

    public static string Render(IReadOnlyList<Node> nodes, IReadOnlyDictionary<string, object?> values, string name, TemplateLimits limits)
    {
        var interpreter = new JinjaInterpreter(name, limits);
        var globals = new Scope(null);
        globals.Set("raise_exception", new JinjaFunction("raise_exception", (args, _, line) =>
            throw new TemplateRaisedException(name, line, args.Count > 0 ? JinjaValues.ToOutput(args[0]) : "")));
        globals.Set("namespace", new JinjaFunction("namespace", (args, keywords, line) =>
        {
            if (args.Count > 0) throw new TemplateException(name, line, "namespace() takes keyword arguments only");
            var ns = new JinjaNamespace();
            foreach (var (k, v) in keywords) ns.Values[k] = v;
            return ns;
        }));
        var scope = new Scope(globals);
        foreach (var (k, v) in values) scope.Set(k, JinjaValues.FromClr(v));
        interpreter.Execute(nodes, scope);
        return interpreter.output.ToString();
    }

    private TemplateException Error(int line, string problem) => new(name, line, problem);

    private void Emit(string text, int line)
    {
        if (output.Length + text.Length > limits.MaxOutputChars)
            throw Error(line, $"the output passes the limit of {limits.MaxOutputChars} characters");
        output.Append(text);
    }

    private void Execute(IReadOnlyList<Node> nodes, Scope scope)
    {
        foreach (Node node in nodes)
        {
            switch (node)
            {
                case TextNode t: Emit(t.Text, t.Line); break;
                case OutputNode o: Emit(JinjaValues.ToOutput(Eval(o.Value, scope)), o.Line); break;
                case IfNode i:
                {
                    bool taken = false;
                    foreach (var (condition, body) in i.Branches)
                    {
                        if (!JinjaValues.Truthy(Eval(condition, scope))) continue;
                        Execute(body, scope);
                        taken = true;
                        break;
                    }
                    if (!taken && i.Else is not null) Execute(i.Else, scope);
                    break;
                }
                case ForNode f: ExecuteFor(f, scope); break;
                case SetNode s:
                {
                    object? value = Eval(s.Value, scope);
                    if (s.Attribute is null) scope.Set(s.Name, value);
                    else if (scope.Lookup(s.Name) is JinjaNamespace ns) ns.Values[s.Attribute] = value;
                    else throw Error(s.Line, $"cannot set '{s.Name}.{s.Attribute}': '{s.Name}' is not a namespace()");
                    break;
                }
                default: throw Error(node.Line, $"unsupported node {node.GetType().Name}");
            }
        }
    }

    private void ExecuteFor(ForNode f, Scope scope)
    {
        object? iterable = Eval(f.Iterable, scope);
        List<object?> items = iterable switch
        {
            List<object?> l => l,
            Dictionary<string, object?> m => m.Keys.Select(k => (object?)k).ToList(),
            string s => s.Select(c => (object?)c.ToString()).ToList(),
            Undefined => throw Error(f.Line, "cannot loop over an undefined value"),
            _ => throw Error(f.Line, $"cannot loop over a {JinjaValues.TypeName(iterable)}"),
        };
        if (f.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (object? item in items)
            {
                Count(f.Line);
                var probe = new Scope(scope);
                Bind(f, probe, item);
                if (JinjaValues.Truthy(Eval(f.Filter, probe))) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) Execute(f.Else, scope);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            Count(f.Line);
            var inner = new Scope(scope);
            Bind(f, inner, items[i]);
            inner.Set("loop", new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index0"] = (long)i,
                ["index"] = (long)(i + 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
            });
            depth++;
            if (depth > limits.MaxDepth) throw Error(f.Line, $"nesting is deeper than the limit of {limits.MaxDepth}");
            Execute(f.Body, inner);
            depth--;
        }
    }

    private void Count(int line)
    {
        if (++iterations > limits.MaxLoopIterations)
            throw Error(line, $"loops ran more than the limit of {limits.MaxLoopIterations} iterations");
    }

    private void Bind(ForNode f, Scope scope, object? item)
    {
        if (f.Targets.Count == 1)
        {
            scope.Set(f.Targets[0], item);
            return;
        }
        if (item is not List<object?> tuple || tuple.Count != f.Targets.Count)
            throw Error(f.Line, $"cannot unpack a {JinjaValues.TypeName(item)} into {f.Targets.Count} loop variables");
        for (int i = 0; i < tuple.Count; i++) scope.Set(f.Targets[i], tuple[i]);
    }

    private object? Eval(Expr e, Scope scope)
    {
        if (++depth > limits.MaxDepth) throw Error(e.Line, $"nesting is deeper than the limit of {limits.MaxDepth}");
        try { return EvalCore(e, scope); }
        finally { depth--; }
    }

    private object? EvalCore(Expr e, Scope scope)
    {
        switch (e)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n: return scope.Lookup(n.Name);
            case AttributeExpr a: return Member(Eval(a.Target, scope), a.Name, a.Line);
            case IndexExpr i: return Index(Eval(i.Target, scope), Eval(i.Index, scope), i.Line);
            case SliceExpr s:
                return Slice(Eval(s.Target, scope), s.Start is null ? null : Eval(s.Start, scope), s.Stop is null ? null : Eval(s.Stop, scope),
                    s.Step is null ? null : Eval(s.Step, scope), s.Line);
            case CallExpr c:
            {
                object? callee = Eval(c.Callee, scope);
                if (callee is not JinjaFunction fn)
                    throw Error(c.Line, callee is Undefined ? $"unsupported construct: call of '{Describe(c.Callee)}', which is not a known function" : $"'{Describe(c.Callee)}' is a {JinjaValues.TypeName(callee)}, not a function");
                var args = c.Arguments.Select(x => Eval(x, scope)).ToList();
                var keywords = c.Keywords.Select(k => (k.Name, Eval(k.Value, scope))).ToList();
                return fn.Invoke(args, keywords, c.Line);
            }
            case FilterExpr f: return Filter(f, Eval(f.Value, scope), scope);
            case TestExpr t:
            {
                bool result = Test(t.Name, Eval(t.Value, scope), t.Line);
                return t.Negated ? !result : result;
            }
            case UnaryExpr u:
            {
                object? v = Eval(u.Operand, scope);
                return u.Operator switch
                {
                    "not" => !JinjaValues.Truthy(v),
                    "-" => v switch { long n => (object)(-n), double d => -d, _ => throw Error(u.Line, $"cannot negate a {JinjaValues.TypeName(v)}") },
                    "+" => v is long or double ? v : throw Error(u.Line, $"unary '+' on a {JinjaValues.TypeName(v)}"),
                    _ => throw Error(u.Line, $"unsupported operator '{u.Operator}'"),
                };
            }
            case BinaryExpr b: return Binary(b, scope);
            case ConditionalExpr c:
                return JinjaValues.Truthy(Eval(c.Condition, scope)) ? Eval(c.WhenTrue, scope) : c.WhenFalse is null ? Undefined.Instance : Eval(c.WhenFalse, scope);
            case ListExpr l: return l.Items.Select(x => Eval(x, scope)).ToList();
            case DictExpr d:
            {
                var m = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, v) in d.Items)
                {
                    if (Eval(k, scope) is not string key) throw Error(d.Line, "mapping keys must be strings");
                    m[key] = Eval(v, scope);
                }
                return m;
            }
            default: throw Error(e.Line, $"unsupported expression {e.GetType().Name}");
        }
    }

    private static string Describe(Expr e) => e switch
    {
        NameExpr n => n.Name,
        AttributeExpr a => Describe(a.Target) + "." + a.Name,
        _ => "expression",
    };

    private object? Binary(BinaryExpr b, Scope scope)
    {
        if (b.Operator == "and")
        {
            object? l = Eval(b.Left, scope);
            return JinjaValues.Truthy(l) ? Eval(b.Right, scope) : l;
        }
        if (b.Operator == "or")
        {
            object? l = Eval(b.Left, scope);
            return JinjaValues.Truthy(l) ? l : Eval(b.Right, scope);
        }
        object? left = Eval(b.Left, scope), right = Eval(b.Right, scope);
        switch (b.Operator)
        {
            case "==": return JinjaEquals(left, right);
            case "!=": return !JinjaEquals(left, right);
            case "<" or "<=" or ">" or ">=":
            {
                int c = Compare(left, right, b);
                return b.Operator switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
            }
            case "in":
                return right switch
                {
                    string s when left is string sub => s.Contains(sub, StringComparison.Ordinal),
                    List<object?> l => l.Any(x => JinjaEquals(x, left)),
                    Dictionary<string, object?> m => left is string key && m.ContainsKey(key),
                    _ => throw Error(b.Line, $"'in' needs a string, list or mapping on its right, got a {JinjaValues.TypeName(right)}"),
                };
            case "~": return Limit(JinjaValues.ToOutput(left) + JinjaValues.ToOutput(right), b.Line);
            case "+":
                if (left is string ls && right is string rs) return Limit(ls + rs, b.Line);
                if (left is List<object?> ll && right is List<object?> rl)
                {
                    if (ll.Count + rl.Count > limits.MaxOutputChars) throw Error(b.Line, $"a list passes the limit of {limits.MaxOutputChars} items");
                    return ll.Concat(rl).ToList();
                }
                return Arithmetic(b, left, right);
            default: return Arithmetic(b, left, right);
        }
    }

    private string Limit(string s, int line)
        => s.Length > limits.MaxOutputChars ? throw Error(line, $"a string passes the limit of {limits.MaxOutputChars} characters") : s;

    private object Arithmetic(BinaryExpr b, object? left, object? right)
    {
        if (left is long x && right is long y)
        {
            switch (b.Operator)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "/": return y == 0 ? throw Error(b.Line, "division by zero") : (double)x / y;
                case "//": return y == 0 ? throw Error(b.Line, "division by zero") : (long)Math.Floor((double)x / y);
                case "%":
                    if (y == 0) throw Error(b.Line, "modulo by zero");
                    long r = x % y;
                    return r != 0 && (r < 0) != (y < 0) ? r + y : r;
            }
        }
        if (left is long or double && right is long or double)
        {
            double p = Convert.ToDouble(left, System.Globalization.CultureInfo.InvariantCulture), q = Convert.ToDouble(right, System.Globalization.CultureInfo.InvariantCulture);
            switch (b.Operator)
            {
                case "+": return p + q;
                case "-": return p - q;
                case "*": return p * q;
                case "/": return q == 0 ? throw Error(b.Line, "division by zero") : p / q;
                case "//": return q == 0 ? throw Error(b.Line, "division by zero") : Math.Floor(p / q);
                case "%":
                    if (q == 0) throw Error(b.Line, "modulo by zero");
                    double r = p % q;
                    return r != 0 && (r < 0) != (q < 0) ? r + q : r;
            }
        }
        if (b.Operator == "%" && left is string) throw Error(b.Line, "unsupported construct: '%' string formatting");
        throw Error(b.Line, $"cannot apply '{b.Operator}' to a {JinjaValues.TypeName(left)} and a {JinjaValues.TypeName(right)}");
    }

    private static bool JinjaEquals(object? a, object? b)
    {
        if (a is long or double && b is long or double)
            return Convert.ToDouble(a, System.Globalization.CultureInfo.InvariantCulture) == Convert.ToDouble(b, System.Globalization.CultureInfo.InvariantCulture);
        return (a, b) switch
        {
            (null, null) => true,
            (Undefined, Undefined) => true,
            (bool x, bool y) => x == y,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => JinjaEquals(p.First, p.Second)),
            (Dictionary<string, object?> x, Dictionary<string, object?> y) => x.Count == y.Count && x.All(p => y.TryGetValue(p.Key, out object? v) && JinjaEquals(p.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    private int Compare(object? a, object? b, BinaryExpr e)
    {
        if (a is long or double && b is long or double)
            return Convert.ToDouble(a, System.Globalization.CultureInfo.InvariantCulture).CompareTo(Convert.ToDouble(b, System.Globalization.CultureInfo.InvariantCulture));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        throw Error(e.Line, $"cannot compare a {JinjaValues.TypeName(a)} with a {JinjaValues.TypeName(b)} using '{e.Operator}'");
    }

    private object? Member(object? target, string member, int line)
    {
        switch (target)
        {
            case Dictionary<string, object?> m: return m.TryGetValue(member, out object? v) ? v : Undefined.Instance;
            case JinjaNamespace ns: return ns.Values.TryGetValue(member, out object? nv) ? nv : Undefined.Instance;
            case string s: return StringMethod(s, member, line);
            case Undefined: throw Error(line, $"'{member}' of an undefined value");
            case null: throw Error(line, $"'{member}' of none");
            default: return Undefined.Instance;
        }
    }

    private object? Index(object? target, object? index, int line)
    {
        switch (target)
        {
            case Dictionary<string, object?> m:
                return index is string key && m.TryGetValue(key, out object? v) ? v : Undefined.Instance;
            case JinjaNamespace ns:
                return index is string nkey && ns.Values.TryGetValue(nkey, out object? nv) ? nv : Undefined.Instance;
            case List<object?> l when index is long n:
            {
                long i = n < 0 ? n + l.Count : n;
                return i >= 0 && i < l.Count ? l[(int)i] : Undefined.Instance;
            }
            case string s when index is long n:
            {
                long i = n < 0 ? n + s.Length : n;
                return i >= 0 && i < s.Length ? s[(int)i].ToString() : Undefined.Instance;
            }
            case string s when index is string:
                return StringMethod(s, (string)index, line);
            case Undefined: throw Error(line, "subscript of an undefined value");
            case null: throw Error(line, "subscript of none");
            default: return Undefined.Instance;
        }
    }

    private object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        long? Int(object? v, string what) => v switch
        {
            null or Undefined => null,
            long n => n,
            _ => throw Error(line, $"slice {what} must be an integer, got a {JinjaValues.TypeName(v)}"),
        };
        int count = target switch
        {
            List<object?> l => l.Count,
            string s => s.Length,
            _ => throw Error(line, $"cannot slice a {JinjaValues.TypeName(target)}"),
        };
        long stepValue = Int(step, "step") ?? 1;
        if (stepValue == 0) throw Error(line, "slice step cannot be zero");
        // Python's slice.indices.
        long Clamp(long? v, long forNone, long low, long high)
        {
            if (v is null) return forNone;
            long x = v.Value < 0 ? v.Value + count : v.Value;
            return Math.Clamp(x, low, high);
        }
        long begin = stepValue > 0 ? Clamp(Int(start, "start"), 0, 0, count) : Clamp(Int(start, "start"), count - 1, -1, count - 1);
        long end = stepValue > 0 ? Clamp(Int(stop, "stop"), count, 0, count) : Clamp(Int(stop, "stop"), -1, -1, count - 1);
        var indices = new List<int>();
        for (long i = begin; stepValue > 0 ? i < end : i > end; i += stepValue) indices.Add((int)i);
        return target is string str ? string.Concat(indices.Select(i => str[i])) : indices.Select(i => ((List<object?>)target)[i]).ToList();
    }

    private JinjaFunction StringMethod(string s, string method, int line)
    {
        string? Chars(IReadOnlyList<object?> args) => args.Count == 0 || args[0] is null ? null
            : args[0] as string ?? throw Error(line, $"{method}() takes a string");
        string Arg(IReadOnlyList<object?> args) => args.Count == 1 && args[0] is string a ? a : throw Error(line, $"{method}() takes one string argument");
        return method switch
        {
            "startswith" => new JinjaFunction(method, (args, _, _) => s.StartsWith(Arg(args), StringComparison.Ordinal)),
            "endswith" => new JinjaFunction(method, (args, _, _) => s.EndsWith(Arg(args), StringComparison.Ordinal)),
            "strip" => new JinjaFunction(method, (args, _, _) => Strip(s, Chars(args), true, true)),
            "lstrip" => new JinjaFunction(method, (args, _, _) => Strip(s, Chars(args), true, false)),
            "rstrip" => new JinjaFunction(method, (args, _, _) => Strip(s, Chars(args), false, true)),
            "split" => new JinjaFunction(method, (args, _, _) =>
            {
                string? sep = Chars(args);
                if (sep is null) return s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(x => (object?)x).ToList();
                if (sep.Length == 0) throw Error(line, "split() with an empty separator");
                return s.Split(sep).Select(x => (object?)x).ToList();
            }),
            _ => throw Error(line, $"unsupported construct: string method '{method}'"),
        };
    }

    private static string Strip(string s, string? chars, bool left, bool right)
    {
        int a = 0, b = s.Length;
        bool Drop(char c) => chars is null ? JinjaLexer.IsSpace(c) : chars.Contains(c, StringComparison.Ordinal);
        if (left) while (a < b && Drop(s[a])) a++;
        if (right) while (b > a && Drop(s[b - 1])) b--;
        return s[a..b];
    }

    private object? Filter(FilterExpr f, object? value, Scope scope)
    {
        switch (f.Name)
        {
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.Length,
                    List<object?> l => (long)l.Count,
                    Dictionary<string, object?> m => (long)m.Count,
                    _ => throw Error(f.Line, $"'length' of a {JinjaValues.TypeName(value)}"),
                };
            case "trim":
                if (f.Arguments.Count > 0) throw Error(f.Line, "unsupported construct: 'trim' with arguments");
                return Strip(JinjaValues.ToOutput(value), null, true, true);
            case "tojson":
            {
                if (f.Arguments.Count > 0 || f.Keywords.Count > 0) throw Error(f.Line, "unsupported construct: 'tojson' with arguments");
                var sb = new StringBuilder();
                try { JinjaValues.ToJson(value, sb); }
                catch (ArgumentException e) { throw Error(f.Line, e.Message); }
                return Limit(sb.ToString(), f.Line);
            }
            default:
                _ = scope;
                throw Error(f.Line, $"unsupported construct: filter '{f.Name}'");
        }
    }

    private bool Test(string test, object? value, int line) => test switch
    {
        "string" => value is string,
        "defined" => value is not Undefined,
        "undefined" => value is Undefined,
        "none" => value is null,
        "true" => value is true,
        "false" => value is false,
        "iterable" => value is string or List<object?> or Dictionary<string, object?>,
        _ => throw Error(line, $"unsupported construct: test '{test}'"),
    };
}
