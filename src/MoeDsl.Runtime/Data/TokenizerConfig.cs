using System.IO;
using System.Text.Json;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>What a checkpoint's <c>tokenizer_config.json</c> says beyond tokenizer.json: whether BOS/EOS are added
/// (<c>add_bos_token</c>, <c>add_eos_token</c>; null when the file does not say), the special token strings
/// (<c>bos_token</c> etc., a string or an <c>{"content": ...}</c> object) and the Jinja <c>chat_template</c> (a string, or
/// a list of <c>{"name", "template"}</c> of which "default" is taken).</summary>
public sealed record TokenizerConfig(bool? AddBosToken, bool? AddEosToken, string? BosToken, string? EosToken, string? PadToken, string? UnkToken, string? ChatTemplate)
{
    /// <summary>The file name in a checkpoint folder.</summary>
    public const string FileName = "tokenizer_config.json";
    /// <summary>Largest tokenizer_config.json accepted (Gemma 3's is about 1.2 MB).</summary>
    public const long MaxFileBytes = 50_000_000;

    /// <summary>Reads the file; null when the folder has none.</summary>
    public static TokenizerConfig? LoadIfPresent(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(path)) return null;
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new ModelFormatException(path, null, $"is {length} bytes; a tokenizer_config.json larger than {MaxFileBytes} bytes is refused");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Reads tokenizer_config.json bytes; <paramref name="file"/> names it in errors.</summary>
    public static TokenizerConfig Parse(byte[] utf8, string file)
    {
        using JsonDocument doc = JsonInput.Parse(utf8, file, null, "tokenizer config");
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(file, null, "must be a JSON object");
        return new TokenizerConfig(Bool(root, "add_bos_token", file), Bool(root, "add_eos_token", file),
            Token(root, "bos_token", file), Token(root, "eos_token", file), Token(root, "pad_token", file), Token(root, "unk_token", file),
            Template(root, file));
    }

    private static bool? Bool(JsonElement root, string key, string file)
    {
        if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException(file, key, $"must be true or false, got {JsonInput.Describe(v)}"),
        };
    }

    private static string? Token(JsonElement root, string key, string file)
    {
        if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        throw new ModelFormatException(file, key, $"must be a string or an object with a string 'content', got {JsonInput.Describe(v)}");
    }

    private static string? Template(JsonElement root, string file)
    {
        if (!root.TryGetProperty("chat_template", out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement named in v.EnumerateArray())
            {
                if (named.ValueKind != JsonValueKind.Object || !named.TryGetProperty("name", out JsonElement n) || n.ValueKind != JsonValueKind.String
                    || !named.TryGetProperty("template", out JsonElement t) || t.ValueKind != JsonValueKind.String)
                    throw new ModelFormatException(file, "chat_template", "must be a string or a list of {\"name\": ..., \"template\": ...}");
                if (n.GetString() == "default") return t.GetString();
            }
            throw new ModelFormatException(file, "chat_template", "is a list of named templates without one named 'default'");
        }
        throw new ModelFormatException(file, "chat_template", $"must be a string, got {JsonInput.Describe(v)}");
    }
}
