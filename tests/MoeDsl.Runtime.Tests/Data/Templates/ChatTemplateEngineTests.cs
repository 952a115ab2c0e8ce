using System.Collections.Generic;
using MoeDsl.Runtime.Data.Templates;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data.Templates;

/// <summary>The engine's semantics on small templates (expected strings worked out by hand from Jinja2's rules), its
/// refusals (line and construct named) and its bounds on untrusted templates.</summary>
public sealed class ChatTemplateEngineTests
{
    private static string Render(string source, Dictionary<string, object?>? values = null, TemplateLimits? limits = null)
        => ChatTemplate.Parse(source, "t", limits).Render(values ?? new Dictionary<string, object?>());

    [Theory]
    [InlineData("{{ 'a' + 'b' ~ 1 }}", "ab1")]
    [InlineData("{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 // 2 }} {{ 1 / 2 }}", "1 2 3 0.5")]
    [InlineData("{{ [1, 2, 3, 4][::-1] }} {{ [1, 2, 3][1:] }} {{ 'hello'[1:3] }} {{ [1, 2, 3][-1] }}", "[4, 3, 2, 1] [2, 3] el 3")]
    [InlineData("{{ 'x' if false else 'y' }}{{ 'z' if true }}", "yz")]
    [InlineData("{{ not 1 in [1, 2] }} {{ 3 not in [1, 2] }} {{ 'ell' in 'hello' }}", "False True True")]
    [InlineData("{{ '  a b  ' | trim }}|{{ [1, 2] | length }}|{{ {'k': [1, 'v', none, true]} | tojson }}", "a b|2|{\"k\": [1, \"v\", null, true]}")]
    [InlineData("{{ 'a</think>b'.split('</think>')[-1] }} {{ '\\n\\nx\\n'.strip('\\n') }} {{ 'xxa'.lstrip('x') }} {{ 'abc'.startswith('ab') }}", "b x a True")]
    [InlineData("{{ none }} {{ undefined_name }}|{{ true }}", "None |True")]
    [InlineData("{{ x is defined }} {{ none is none }} {{ 'a' is string }} {{ [1] is iterable }} {{ false is false }} {{ 1 is not string }}", "False True True True True True")]
    public void ExpressionsFollowJinja2(string source, string expected) => Assert.Equal(expected, Render(source));

    [Fact]
    public void LoopVariablesScopingAndNamespaces()
    {
        const string source = "{% set x = 'outer' %}{% set ns = namespace(n=0) %}"
            + "{% for i in [10, 20, 30] if i != 20 %}{% set x = 'inner' %}{% set ns.n = ns.n + i %}"
            + "{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"
            + "{{ x }} {{ ns.n }}{% for i in [] %}never{% else %} empty{% endfor %}";
        Assert.Equal("01TrueFalse2;12FalseTrue2;outer 40 empty", Render(source));
    }

    [Fact]
    public void WhitespaceControlTrimBlocksAndLstripBlocks()
    {
        // lstrip_blocks removes the indentation before {% at a line start, trim_blocks the newline after %};
        // '-' strips all whitespace on its side; one final newline of the source is dropped.
        const string source = "a\n    {% if true %}\n  b\n    {% endif %}\nc {{- ' d ' -}}  \n e\n";
        Assert.Equal("a\n  b\nc d e", Render(source));
    }

    [Theory]
    [InlineData("line one\n{% macro m() %}x{% endmacro %}", 2, "unsupported construct 'macro'")]
    [InlineData("{{ x | upper }}", 1, "unsupported construct: filter 'upper'")]
    [InlineData("\n\n{{ 'a' is divisibleby }}", 3, "unsupported construct: test 'divisibleby'")]
    [InlineData("{{ 'a'.__class__ }}", 1, "unsupported construct: string method '__class__'")]
    [InlineData("{% for x in y %}", 1, "'{% for %}' is never closed with '{% endfor %}'")]
    [InlineData("{% include 'other.jinja' %}", 1, "unsupported construct 'include'")]
    [InlineData("{{ cycler() }}", 1, "unsupported construct: call of 'cycler', which is not a known function")]
    public void UnsupportedConstructsNameTheLineAndTheConstruct(string source, int line, string problem)
    {
        var e = Assert.ThrowsAny<TemplateException>(() => Render(source));
        Assert.Equal(line, e.Line);
        Assert.Contains(problem, e.Message, System.StringComparison.Ordinal);
        Assert.StartsWith($"t line {line}: ", e.Message, System.StringComparison.Ordinal);
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var e = Assert.Throws<TemplateRaisedException>(() => Render("ok\n{{ raise_exception('roles must alternate') }}"));
        Assert.Equal("roles must alternate", e.TemplateMessage);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void UntrustedTemplatesAreBounded()
    {
        var limits = new TemplateLimits { MaxLoopIterations = 1000, MaxOutputChars = 10_000, MaxDepth = 20 };
        var values = new Dictionary<string, object?> { ["xs"] = new List<object?>(new object?[100]) };
        // 100 x 100 = 10,000 iterations > 1,000.
        var loops = Assert.ThrowsAny<TemplateException>(() => Render("{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}", values, limits));
        Assert.Contains("more than the limit of 1000 iterations", loops.Message, System.StringComparison.Ordinal);
        // Doubling a string 20 times passes 10,000 characters.
        var size = Assert.ThrowsAny<TemplateException>(() => Render("{% set ns = namespace(s='ab') %}{% for i in xs %}{% set ns.s = ns.s + ns.s %}{% endfor %}", values, limits));
        Assert.Contains("limit of 10000 characters", size.Message, System.StringComparison.Ordinal);
        var output = Assert.ThrowsAny<TemplateException>(() => Render("{% for a in xs %}{% for b in xs %}{{ '0123456789' }}{% endfor %}{% endfor %}", values, limits with { MaxLoopIterations = 100_000 }));
        Assert.Contains("output passes the limit of 10000 characters", output.Message, System.StringComparison.Ordinal);
        var nesting = Assert.ThrowsAny<TemplateException>(() => Render("{{ " + new string('(', 50) + "1" + new string(')', 50) + " }}", null, limits));
        Assert.Contains("deeper than the limit of 20", nesting.Message, System.StringComparison.Ordinal);
        var chain = Assert.ThrowsAny<TemplateException>(() => Render("{{ 1" + string.Concat(System.Linq.Enumerable.Repeat(" + 1", 5000)) + " }}", null, limits));
        Assert.Contains("deeper than the limit of 20", chain.Message, System.StringComparison.Ordinal);
    }
}
