using System.Collections.Generic;
using System.Globalization;

namespace MoeDsl.Runtime.Data.Templates;

/// <summary>Parses the tokens of <see cref="JinjaLexer"/> into statements: text, <c>{{ expression }}</c>, <c>if / elif /
/// else</c>, <c>for ... in ... [if ...]</c> (with <c>else</c>), <c>set</c> (a name or a namespace attribute). Expressions
/// follow Jinja2's grammar and precedence: conditional <c>a if c else b</c>, <c>or</c>, <c>and</c>, <c>not</c>,
/// comparisons (<c>== != &lt; &lt;= &gt; &gt;= in</c>, <c>not in</c>), <c>+ -</c>, <c>~</c>, <c>* / // %</c>, unary
/// minus, then postfix attribute, subscript (slices included), call, filter (<c>|</c>) and test (<c>is [not]</c>).
/// Anything else — macros, call blocks, includes, <c>break</c>, block <c>set</c> and the rest of Jinja2 — is a
/// <see cref="TemplateException"/> naming the line and the construct.</summary>
internal sealed class JinjaParser
{
    private readonly List<Token> tokens;
    private readonly string name;
    private readonly int maxDepth;
    private int pos;
    private int depth;

    private JinjaParser(List<Token> tokens, string name, int maxDepth)
    {
        this.tokens = tokens;
        this.name = name;
        this.maxDepth = maxDepth;
    }

    public static IReadOnlyList<Node> Parse(string source, string name, TemplateLimits limits)
    {
        if (source.Length > limits.MaxSourceChars)
            throw new TemplateException(name, 1, $"is {source.Length} characters, more than the limit of {limits.MaxSourceChars}");
        var parser = new JinjaParser(JinjaLexer.Tokenize(source, name), name, limits.MaxDepth);
        var body = parser.ParseBody(out string? end);
        if (end is not null) throw parser.Error(parser.Current.Line, $"'{{% {end} %}}' without a matching opening block");
        return body;
    }

    private Token Current => tokens[pos];

    private TemplateException Error(int line, string problem) => new(name, line, problem);

    private void Enter(int line)
    {
        if (++depth > maxDepth) throw Error(line, $"nesting is deeper than the limit of {maxDepth}");
    }

    /// <summary>Statements until the end of input or a closing/branch keyword (<c>endif</c>, <c>elif</c>, <c>else</c>,
    /// <c>endfor</c>), which is returned in <paramref name="terminator"/> with the position on its name.</summary>
    private List<Node> ParseBody(out string? terminator)
    {
        var nodes = new List<Node>();
        while (true)
        {
            Token t = Current;
            switch (t.Kind)
            {
                case TokenKind.End:
                    terminator = null;
                    return nodes;
                case TokenKind.Text:
                    nodes.Add(new TextNode(t.Line, t.Value));
                    pos++;
                    break;
                case TokenKind.OutputOpen:
                    pos++;
                    Expr value = ParseExpression();
                    Expect(TokenKind.OutputClose, "'}}'");
                    nodes.Add(new OutputNode(t.Line, value));
                    break;
                case TokenKind.StatementOpen:
                    pos++;
                    Token keyword = Current;
                    if (keyword.Kind != TokenKind.Name) throw Error(keyword.Line, $"expected a statement name after '{{%', got '{keyword.Value}'");
                    if (keyword.Value is "endif" or "elif" or "else" or "endfor")
                    {
                        terminator = keyword.Value;
                        return nodes;
                    }
                    nodes.Add(ParseStatement(keyword));
                    break;
                default:
                    throw Error(t.Line, $"unexpected '{t.Value}'");
            }
        }
    }

    private Node ParseStatement(Token keyword)
    {
        pos++;
        switch (keyword.Value)
        {
            case "if": return ParseIf(keyword.Line);
            case "for": return ParseFor(keyword.Line);
            case "set": return ParseSet(keyword.Line);
            default:
                throw Error(keyword.Line, $"unsupported construct '{keyword.Value}' (supported statements: if/elif/else, for, set)");
        }
    }

    private IfNode ParseIf(int line)
    {
        Enter(line);
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        Expr condition = ParseExpression();
        Expect(TokenKind.StatementClose, "'%}'");
        List<Node>? elseBody = null;
        while (true)
        {
            var body = ParseBody(out string? end);
            branches.Add((condition, body));
            if (end is null) throw Error(line, "'{% if %}' is never closed with '{% endif %}'");
            pos++;
            if (end == "elif")
            {
                condition = ParseExpression();
                Expect(TokenKind.StatementClose, "'%}'");
                continue;
            }
            if (end == "else")
            {
                Expect(TokenKind.StatementClose, "'%}'");
                elseBody = ParseBody(out end);
                if (end is null) throw Error(line, "'{% if %}' is never closed with '{% endif %}'");
                pos++;
            }
            if (end != "endif") throw Error(Current.Line, $"'{{% {end} %}}' inside '{{% if %}}' (line {line})");
            Expect(TokenKind.StatementClose, "'%}'");
            depth--;
            return new IfNode(line, branches, elseBody);
        }
    }

    private ForNode ParseFor(int line)
    {
        Enter(line);
        var targets = new List<string> { ExpectName() };
        while (IsOperator(","))
        {
            pos++;
            targets.Add(ExpectName());
        }
        if (!(Current.Kind == TokenKind.Name && Current.Value == "in")) throw Error(Current.Line, "expected 'in' in '{% for %}'");
        pos++;
        Expr iterable = ParseOr();
        Expr? filter = null;
        if (IsName("if"))
        {
            pos++;
            filter = ParseOr();
        }
        if (IsName("recursive")) throw Error(Current.Line, "unsupported construct 'recursive' loop");
        Expect(TokenKind.StatementClose, "'%}'");
        var body = ParseBody(out string? end);
        List<Node>? elseBody = null;
        if (end == "else")
        {
            pos++;
            Expect(TokenKind.StatementClose, "'%}'");
            elseBody = ParseBody(out end);
        }
        if (end != "endfor") throw Error(end is null ? line : Current.Line, end is null ? "'{% for %}' is never closed with '{% endfor %}'" : $"'{{% {end} %}}' inside '{{% for %}}' (line {line})");
        pos++;
        Expect(TokenKind.StatementClose, "'%}'");
        depth--;
        return new ForNode(line, targets, iterable, filter, body, elseBody);
    }

    private SetNode ParseSet(int line)
    {
        string target = ExpectName();
        string? attribute = null;
        if (IsOperator("."))
        {
            pos++;
            attribute = ExpectName();
        }
        if (!IsOperator("="))
            throw Error(Current.Line, Current.Kind == TokenKind.StatementClose ? "unsupported construct 'set' block (only '{% set name = value %}')" : $"expected '=' in '{{% set %}}', got '{Current.Value}'");
        pos++;
        Expr value = ParseExpression();
        Expect(TokenKind.StatementClose, "'%}'");
        return new SetNode(line, target, attribute, value);
    }

    // ---- expressions ----

    private Expr ParseExpression()
    {
        Enter(Current.Line);
        Expr e = ParseOr();
        while (IsName("if"))
        {
            int line = Current.Line;
            pos++;
            Expr condition = ParseOr();
            Expr? otherwise = null;
            if (IsName("else"))
            {
                pos++;
                otherwise = ParseExpression();
            }
            e = new ConditionalExpr(line, condition, e, otherwise);
        }
        depth--;
        return e;
    }

    private Expr ParseOr()
    {
        Expr e = ParseAnd();
        while (IsName("or")) { int l = Current.Line; pos++; e = new BinaryExpr(l, "or", e, ParseAnd()); }
        return e;
    }

    private Expr ParseAnd()
    {
        Expr e = ParseNot();
        while (IsName("and")) { int l = Current.Line; pos++; e = new BinaryExpr(l, "and", e, ParseNot()); }
        return e;
    }

    private Expr ParseNot()
    {
        if (IsName("not"))
        {
            int l = Current.Line;
            pos++;
            Enter(l);
            Expr operand = ParseNot();
            depth--;
            return new UnaryExpr(l, "not", operand);
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        Expr e = ParseAdditive();
        while (true)
        {
            int l = Current.Line;
            if (Current.Kind == TokenKind.Operator && Current.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                string op = Current.Value;
                pos++;
                e = new BinaryExpr(l, op, e, ParseAdditive());
            }
            else if (IsName("in"))
            {
                pos++;
                e = new BinaryExpr(l, "in", e, ParseAdditive());
            }
            else if (IsName("not") && tokens[pos + 1].Kind == TokenKind.Name && tokens[pos + 1].Value == "in")
            {
                pos += 2;
                e = new UnaryExpr(l, "not", new BinaryExpr(l, "in", e, ParseAdditive()));
            }
            else return e;
        }
    }

    private Expr ParseAdditive()
    {
        Expr e = ParseConcat();
        while (IsOperator("+") || IsOperator("-")) { var t = Current; pos++; e = new BinaryExpr(t.Line, t.Value, e, ParseConcat()); }
        return e;
    }

    private Expr ParseConcat()
    {
        Expr e = ParseMultiplicative();
        while (IsOperator("~")) { int l = Current.Line; pos++; e = new BinaryExpr(l, "~", e, ParseMultiplicative()); }
        return e;
    }

    private Expr ParseMultiplicative()
    {
        Expr e = ParseUnary(withFilter: true);
        while (IsOperator("*") || IsOperator("/") || IsOperator("//") || IsOperator("%"))
        {
            var t = Current;
            pos++;
            e = new BinaryExpr(t.Line, t.Value, e, ParseUnary(withFilter: true));
        }
        if (IsOperator("**")) throw Error(Current.Line, "unsupported construct '**'");
        return e;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Expr e;
        if (IsOperator("-") || IsOperator("+"))
        {
            var t = Current;
            pos++;
            Enter(t.Line);
            e = new UnaryExpr(t.Line, t.Value, ParseUnary(withFilter: false));
            depth--;
        }
        else e = ParsePrimary();
        e = ParsePostfix(e);
        if (withFilter) e = ParseFiltersAndTests(e);
        return e;
    }

    private Expr ParsePrimary()
    {
        Token t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                pos++;
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(t.Line, true),
                    "false" or "False" => new LiteralExpr(t.Line, false),
                    "none" or "None" => new LiteralExpr(t.Line, null),
                    _ => new NameExpr(t.Line, t.Value),
                };
            case TokenKind.String:
            {
                pos++;
                string s = t.Value;
                while (Current.Kind == TokenKind.String) { s += Current.Value; pos++; }
                return new LiteralExpr(t.Line, s);
            }
            case TokenKind.Integer:
                pos++;
                if (!long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long n)) throw Error(t.Line, $"integer {t.Value} is out of range");
                return new LiteralExpr(t.Line, n);
            case TokenKind.Float:
                pos++;
                return new LiteralExpr(t.Line, double.Parse(t.Value, CultureInfo.InvariantCulture));
            case TokenKind.Operator when t.Value == "(":
            {
                pos++;
                Expr e = ParseExpression();
                if (IsOperator(",")) throw Error(t.Line, "unsupported construct 'tuple'");
                ExpectOperator(")");
                return e;
            }
            case TokenKind.Operator when t.Value == "[":
            {
                pos++;
                Enter(t.Line);
                var items = new List<Expr>();
                while (!IsOperator("]"))
                {
                    items.Add(ParseExpression());
                    if (!IsOperator(",")) break;
                    pos++;
                }
                ExpectOperator("]");
                depth--;
                return new ListExpr(t.Line, items);
            }
            case TokenKind.Operator when t.Value == "{":
            {
                pos++;
                Enter(t.Line);
                var items = new List<(Expr, Expr)>();
                while (!IsOperator("}"))
                {
                    Expr key = ParseExpression();
                    ExpectOperator(":");
                    items.Add((key, ParseExpression()));
                    if (!IsOperator(",")) break;
                    pos++;
                }
                ExpectOperator("}");
                depth--;
                return new DictExpr(t.Line, items);
            }
            default:
                throw Error(t.Line, t.Kind is TokenKind.OutputClose or TokenKind.StatementClose or TokenKind.End ? "expected an expression" : $"unexpected '{t.Value}'");
        }
    }

    private Expr ParsePostfix(Expr e)
    {
        while (true)
        {
            int line = Current.Line;
            if (IsOperator("."))
            {
                pos++;
                Token member = Current;
                if (member.Kind == TokenKind.Name) { pos++; e = new AttributeExpr(line, e, member.Value); }
                else if (member.Kind == TokenKind.Integer) { pos++; e = new IndexExpr(line, e, new LiteralExpr(line, long.Parse(member.Value, CultureInfo.InvariantCulture))); }
                else throw Error(line, $"expected an attribute name after '.', got '{member.Value}'");
            }
            else if (IsOperator("["))
            {
                pos++;
                Enter(line);
                e = ParseSubscript(e, line);
                depth--;
            }
            else if (IsOperator("("))
            {
                var (args, keywords) = ParseArguments(line);
                e = new CallExpr(line, e, args, keywords);
            }
            else return e;
        }
    }

    private Expr ParseSubscript(Expr target, int line)
    {
        Expr? start = IsOperator(":") ? null : ParseExpression();
        if (!IsOperator(":"))
        {
            ExpectOperator("]");
            return new IndexExpr(line, target, start!);
        }
        pos++;
        Expr? stop = IsOperator(":") || IsOperator("]") ? null : ParseExpression();
        Expr? step = null;
        if (IsOperator(":"))
        {
            pos++;
            if (!IsOperator("]")) step = ParseExpression();
        }
        ExpectOperator("]");
        return new SliceExpr(line, target, start, stop, step);
    }

    private (List<Expr> Args, List<(string, Expr)> Keywords) ParseArguments(int line)
    {
        ExpectOperator("(");
        Enter(line);
        var args = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!IsOperator(")"))
        {
            if (Current.Kind == TokenKind.Name && tokens[pos + 1].Kind == TokenKind.Operator && tokens[pos + 1].Value == "=")
            {
                string key = Current.Value;
                pos += 2;
                keywords.Add((key, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw Error(Current.Line, "a positional argument follows a keyword argument");
                args.Add(ParseExpression());
            }
            if (!IsOperator(",")) break;
            pos++;
        }
        ExpectOperator(")");
        depth--;
        return (args, keywords);
    }

    private Expr ParseFiltersAndTests(Expr e)
    {
        while (true)
        {
            int line = Current.Line;
            if (IsOperator("|"))
            {
                pos++;
                string filter = ExpectName();
                List<Expr> args = new();
                List<(string, Expr)> keywords = new();
                if (IsOperator("(")) (args, keywords) = ParseArguments(line);
                e = new FilterExpr(line, e, filter, args, keywords);
            }
            else if (IsName("is"))
            {
                pos++;
                bool negated = false;
                if (IsName("not")) { negated = true; pos++; }
                Token test = Current;
                if (test.Kind != TokenKind.Name) throw Error(test.Line, $"expected a test name after 'is', got '{test.Value}'");
                pos++;
                string testName = test.Value switch { "none" or "None" => "none", "true" or "True" => "true", "false" or "False" => "false", _ => test.Value };
                if (IsOperator("(")) throw Error(test.Line, $"unsupported construct: test '{testName}' with arguments");
                e = new TestExpr(line, e, testName, negated);
            }
            else return e;
        }
    }

    // ---- helpers ----

    private bool IsName(string value) => Current.Kind == TokenKind.Name && Current.Value == value;

    private bool IsOperator(string value) => Current.Kind == TokenKind.Operator && Current.Value == value;

    private string ExpectName()
    {
        Token t = Current;
        if (t.Kind != TokenKind.Name) throw Error(t.Line, $"expected a name, got '{t.Value}'");
        pos++;
        return t.Value;
    }

    private void ExpectOperator(string op)
    {
        if (!IsOperator(op)) throw Error(Current.Line, $"expected '{op}', got '{Describe(Current)}'");
        pos++;
    }

    private void Expect(TokenKind kind, string what)
    {
        if (Current.Kind != kind) throw Error(Current.Line, $"expected {what}, got '{Describe(Current)}'");
        pos++;
    }

    private static string Describe(Token t) => t.Kind == TokenKind.End ? "end of template" : t.Value;
}
