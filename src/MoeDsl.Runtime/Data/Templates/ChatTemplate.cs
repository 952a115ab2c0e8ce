using System.Collections.Generic;

namespace MoeDsl.Runtime.Data.Templates;

/// <summary>A parsed Jinja chat template (the <c>chat_template</c> of a checkpoint's tokenizer_config.json), rendered in
/// C# exactly as transformers renders it (Jinja2 with trim_blocks and lstrip_blocks). Only what real chat templates use is
/// supported (see <see cref="JinjaParser"/> and <see cref="JinjaInterpreter"/>); anything else is refused when parsed,
/// naming the line and the construct. The template is untrusted input: rendering is bounded by
/// <see cref="TemplateLimits"/> and sees nothing but the values it is given.</summary>
public sealed class ChatTemplate
{
    private readonly IReadOnlyList<Node> nodes;
    private readonly TemplateLimits limits;

    private ChatTemplate(string source, string name, IReadOnlyList<Node> nodes, TemplateLimits limits)
    {
        Source = source;
        Name = name;
        this.nodes = nodes;
        this.limits = limits;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }
    /// <summary>What errors call it.</summary>
    public string Name { get; }

    /// <summary>Parses <paramref name="source"/>; <see cref="TemplateException"/> for a syntax error or an unsupported
    /// construct. <paramref name="name"/> names the template in errors.</summary>
    public static ChatTemplate Parse(string source, string name = "chat_template", TemplateLimits? limits = null)
    {
        limits ??= new TemplateLimits();
        return new ChatTemplate(source, name, JinjaParser.Parse(source, name, limits), limits);
    }

    /// <summary>Renders with the given top-level values (strings, numbers, bools, null, lists, string-keyed mappings,
    /// <see cref="System.Text.Json.JsonElement"/>s). <see cref="TemplateRaisedException"/> when the template calls
    /// <c>raise_exception</c>, <see cref="TemplateException"/> for any other failure.</summary>
    public string Render(IReadOnlyDictionary<string, object?> values) => JinjaInterpreter.Render(nodes, values, Name, limits);
}
