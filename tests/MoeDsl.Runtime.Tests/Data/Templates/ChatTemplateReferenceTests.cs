using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using MoeDsl.Runtime.Data.Templates;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data.Templates;

/// <summary>The real chat templates of Llama 3, Qwen3 and Gemma 3 (from their tokenizer_config.json) rendered in C#
/// against @huggingface/jinja's output over tests/References/chat-templates/conversations.json, byte for byte; a
/// conversation the template rejects must fail with the template's own message.</summary>
public sealed class ChatTemplateReferenceTests
{
    [SkippableTheory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    public void RealTemplatesRenderExactlyAsTheReferenceEngine(string family)
    {
        string models = ReferenceFiles.ModelFolder(family);
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(models, "tokenizer_config.json")));
        var template = ChatTemplate.Parse(config.RootElement.GetProperty("chat_template").GetString()!);
        using var conversations = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ReferenceFiles.Root, "chat-templates", "conversations.json")));
        var byName = new Dictionary<string, JsonElement>();
        foreach (JsonElement c in conversations.RootElement.EnumerateArray()) byName[c.GetProperty("name").GetString()!] = c.GetProperty("messages");
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ReferenceFiles.Root, "chat-templates", family + ".expected.json")));
        int rendered = 0, refused = 0;
        foreach (JsonElement c in expected.RootElement.GetProperty("cases").EnumerateArray())
        {
            string conversation = c.GetProperty("conversation").GetString()!;
            var values = new Dictionary<string, object?>
            {
                ["messages"] = byName[conversation],
                ["add_generation_prompt"] = c.GetProperty("add_generation_prompt").GetBoolean(),
                ["bos_token"] = TokenString(config.RootElement, "bos_token"),
                ["eos_token"] = TokenString(config.RootElement, "eos_token"),
                ["pad_token"] = TokenString(config.RootElement, "pad_token"),
                ["unk_token"] = TokenString(config.RootElement, "unk_token"),
            };
            if (c.TryGetProperty("error", out JsonElement error))
            {
                var e = Assert.Throws<TemplateRaisedException>(() => template.Render(values));
                Assert.Equal(error.GetString(), e.TemplateMessage);
                refused++;
            }
            else
            {
                Assert.Equal(c.GetProperty("rendered").GetString(), template.Render(values));
                rendered++;
            }
        }
        Assert.Equal(20, rendered + refused);
        Assert.Equal(family == "gemma3" ? 4 : 0, refused);
    }

    private static string? TokenString(JsonElement config, string key)
        => config.TryGetProperty(key, out JsonElement v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object => v.GetProperty("content").GetString(),
            _ => null,
        } : null;
}
