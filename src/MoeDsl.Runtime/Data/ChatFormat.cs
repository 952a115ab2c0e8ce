using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Data.Templates;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>A checkpoint's chat template with what it is rendered with (transformers' <c>apply_chat_template</c>:
/// <c>messages</c>, <c>add_generation_prompt</c>, and tokenizer_config.json's <c>bos_token</c>, <c>eos_token</c>,
/// <c>pad_token</c>, <c>unk_token</c>), and the assistant spans of a rendered conversation, which training learns.
/// The template is parsed on first use; one the engine cannot run is a <see cref="ModelFormatException"/> naming
/// tokenizer_config.json, the template line and the construct.</summary>
public sealed class ChatFormat
{
    private readonly Lazy<ChatTemplate> template;
    private readonly IReadOnlyDictionary<string, string?> tokenStrings;
    private readonly Dictionary<char, string[]> endMarkers;

    /// <summary>Creates the format. <paramref name="endOfTurnMarkers"/> are the tokenizer's special tokens: an assistant
    /// span ends with the first of them after the answer starts (<c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;</c>,
    /// <c>&lt;end_of_turn&gt;</c>), which is learned with it.</summary>
    public ChatFormat(string source, string file, IReadOnlyDictionary<string, string?> tokenStrings, IEnumerable<string> endOfTurnMarkers)
    {
        File = file;
        this.tokenStrings = tokenStrings;
        template = new Lazy<ChatTemplate>(() =>
        {
            try { return ChatTemplate.Parse(source, "chat_template"); }
            catch (TemplateException e) { throw new ModelFormatException(file, "chat_template", e.Message); }
        });
        endMarkers = endOfTurnMarkers.Where(m => m.Length > 0).Distinct().GroupBy(m => m[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(m => m.Length).ToArray());
    }

    /// <summary>The tokenizer_config.json the template came from.</summary>
    public string File { get; }

    /// <summary>Renders a conversation. <see cref="TemplateRaisedException"/> when the template refuses it (with the
    /// template's message), <see cref="ModelFormatException"/> when the template cannot be run.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var values = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        foreach (var (k, v) in tokenStrings) values[k] = v;
        try { return template.Value.Render(values); }
        catch (TemplateRaisedException) { throw; }
        catch (TemplateException e) { throw new ModelFormatException(File, "chat_template", e.Message); }
    }

    /// <summary>The whole conversation rendered, and for each assistant turn the character span learned: from the end of
    /// the conversation before it rendered with <c>add_generation_prompt</c> (which must be a prefix of the whole — else
    /// <see cref="InvalidOperationException"/> saying so) to the end of the first end-of-turn marker after that.</summary>
    public (string Text, IReadOnlyList<(int Start, int End)> Spans) RenderWithAssistantSpans(IReadOnlyList<ChatMessage> messages)
    {
        string full = Render(messages, addGenerationPrompt: false);
        var spans = new List<(int, int)>();
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != "assistant") continue;
            string prefix;
            try { prefix = Render(messages.Take(i).ToList(), addGenerationPrompt: true); }
            catch (TemplateException e) { throw new InvalidOperationException($"the chat template cannot render the conversation before assistant turn {i} ({e.Problem})"); }
            if (!full.StartsWith(prefix, StringComparison.Ordinal))
                throw new InvalidOperationException($"the chat template does not render the conversation before assistant turn {i} (with the generation prompt) as the start of the whole conversation, so the turn cannot be located");
            int start = prefix.Length;
            if (spans.Count > 0 && start < spans[^1].Item2)
                throw new InvalidOperationException($"assistant turn {i} starts inside the previous assistant turn's span");
            spans.Add((start, EndOfTurn(full, start)));
        }
        return (full, spans);
    }

    private int EndOfTurn(string text, int start)
    {
        for (int i = start; i < text.Length; i++)
        {
            if (!endMarkers.TryGetValue(text[i], out string[]? candidates)) continue;
            foreach (string m in candidates)
                if (string.CompareOrdinal(text, i, m, 0, m.Length) == 0) return i + m.Length;
        }
        return text.Length;
    }
}
