using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace MoeDsl.Runtime.IO;

/// <summary>Parses JSON that comes from a file the user handed us: UTF-8 is checked first (with the byte offset of the
/// first bad sequence), syntax errors become <see cref="ModelFormatException"/> with line and byte position, and objects
/// that name a property twice are refused (<see cref="JsonDocument"/> itself keeps both and lets lookups pick one).</summary>
internal static class JsonInput
{
    /// <summary>Default nesting limit: our files are at most a few levels deep.</summary>
    public const int MaxDepth = 64;

    /// <summary>Parses <paramref name="utf8"/>; <paramref name="what"/> names the document in errors ("header", "line 3").</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, string file, string? item, string what, int maxDepth = MaxDepth)
    {
        int bad = FirstInvalidUtf8(utf8.Span);
        if (bad >= 0) throw new ModelFormatException(file, item, $"{what} is not valid UTF-8 (bad byte 0x{utf8.Span[bad]:X2} at offset {bad})");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = maxDepth, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is long l && e.BytePositionInLine is long b ? $" at line {l + 1}, byte {b + 1}" : "";
            throw new ModelFormatException(file, item, $"{what} is not valid JSON{where}: {FirstSentence(e.Message)}");
        }
        try
        {
            Check(doc.RootElement, file, item, what, "");
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") is valid JSON syntax but no string: every later GetString would throw.
            doc.Dispose();
            throw new ModelFormatException(file, item, $"{what} has a string that is not valid UTF-16 ({FirstSentence(e.Message)}); escaped surrogates must come in pairs");
        }
        catch
        {
            doc.Dispose();
            throw;
        }
        return doc;
    }

    /// <summary>Offset of the first byte that does not start a valid UTF-8 sequence, or -1.</summary>
    public static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return -1;
        int i = 0;
        while (i < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes.Slice(i), out _, out int consumed) != System.Buffers.OperationStatus.Done) return i;
            i += consumed;
        }
        return -1;
    }

    /// <summary>Refuses property names given twice and materialises every name and string once, so that a string that is
    /// not decodable is found here rather than by the code that reads the field.</summary>
    private static void Check(JsonElement e, string file, string? item, string what, string path)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            HashSet<string>? seen = null;
            foreach (JsonProperty p in e.EnumerateObject())
            {
                seen ??= new HashSet<string>(StringComparer.Ordinal);
                string here = path.Length == 0 ? p.Name : path + "." + p.Name;
                if (!seen.Add(p.Name))
                    throw new ModelFormatException(file, item ?? here, item is null ? $"is named twice in the {what}; each name may appear once" : $"{what} names '{here}' twice; each name may appear once");
                Check(p.Value, file, item, what, here);
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (JsonElement x in e.EnumerateArray()) Check(x, file, item, what, $"{path}[{i++}]");
        }
        else if (e.ValueKind == JsonValueKind.String)
        {
            _ = e.GetString();
        }
    }

    /// <summary>A short description of a JSON value for messages: its kind and (up to 40 characters of) its text.</summary>
    public static string Describe(JsonElement e)
    {
        string raw = e.GetRawText();
        if (raw.Length > 40) raw = string.Concat(raw.AsSpan(0, 40), "...");
        return e.ValueKind switch
        {
            JsonValueKind.String => $"string {raw}",
            JsonValueKind.Number => $"number {raw}",
            JsonValueKind.True or JsonValueKind.False => $"boolean {raw}",
            JsonValueKind.Null => "null",
            JsonValueKind.Array => $"array {raw}",
            JsonValueKind.Object => $"object {raw}",
            _ => raw,
        };
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message.Substring(0, cut) : message).TrimEnd();
    }

    /// <summary>UTF-8 bytes of a string (tests and tools build inputs with it).</summary>
    public static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);
}
