using System;

namespace MoeDsl.Runtime.Data.Templates;

/// <summary>A chat template cannot be parsed or rendered: names the template, its 1-based line and the construct or
/// problem, e.g. <c>chat_template line 12: unsupported construct 'macro'</c>.</summary>
public class TemplateException : Exception
{
    /// <summary>Creates the error.</summary>
    public TemplateException(string template, int line, string problem)
        : base($"{template} line {line}: {problem}")
    {
        Template = template;
        Line = line;
        Problem = problem;
    }

    /// <summary>What the template is called in messages (e.g. <c>tokenizer_config.json chat_template</c>).</summary>
    public string Template { get; }
    /// <summary>The 1-based line of the template at fault.</summary>
    public int Line { get; }
    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}

/// <summary>The template itself refused the values, through <c>raise_exception(message)</c> (e.g. Gemma's
/// "Conversation roles must alternate user/assistant/user/assistant/..."). <see cref="TemplateMessage"/> is the template's
/// own message, unchanged.</summary>
public sealed class TemplateRaisedException : TemplateException
{
    /// <summary>Creates the error.</summary>
    public TemplateRaisedException(string template, int line, string templateMessage)
        : base(template, line, "the template raised: " + templateMessage) => TemplateMessage = templateMessage;

    /// <summary>The message the template passed to <c>raise_exception</c>.</summary>
    public string TemplateMessage { get; }
}
