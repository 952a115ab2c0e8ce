using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>A fixed character vocabulary: PAD = 0, BOS = 1, EOS = 2, then one id per symbol (a Unicode scalar value) in
/// the given order, from 3. Used by the project's embedded tiny models; saved beside them as <see cref="FileName"/>:
/// <code>{"type": "moedsl-char", "pad_id": 0, "bos_id": 1, "eos_id": 2, "symbols": ["\n", " ", "a", ...]}</code></summary>
public sealed class CharTokenizer : ITokenizer
{
    /// <summary>The file a model folder carries it in.</summary>
    public const string FileName = "char_tokenizer.json";
    /// <summary>Value of the JSON "type" field.</summary>
    public const string TypeName = "moedsl-char";
    /// <summary>Padding id.</summary>
    public const int Pad = 0;
    /// <summary>Beginning-of-sequence id.</summary>
    public const int Bos = 1;
    /// <summary>End-of-sequence id.</summary>
    public const int Eos = 2;
    /// <summary>Id of the first symbol.</summary>
    public const int FirstSymbolId = 3;

    private readonly Dictionary<int, int> idOf = new();
    private readonly Rune[] symbols;

    /// <summary>Creates the tokenizer over the distinct symbols of <paramref name="symbols"/>, in order of first appearance.</summary>
    public CharTokenizer(string symbols)
    {
        var list = new List<Rune>();
        foreach (Rune r in symbols.EnumerateRunes())
        {
            if (idOf.ContainsKey(r.Value)) continue;
            idOf[r.Value] = FirstSymbolId + list.Count;
            list.Add(r);
        }
        if (list.Count == 0) throw new ArgumentException("a character tokenizer needs at least one symbol", nameof(symbols));
        this.symbols = list.ToArray();
    }

    /// <summary>The symbols, id <see cref="FirstSymbolId"/> first.</summary>
    public string Symbols => string.Concat(symbols.Select(r => r.ToString()));

    /// <inheritdoc />
    public string Description => $"char ({symbols.Length} symbols)";
    /// <inheritdoc />
    public int VocabSize => FirstSymbolId + symbols.Length;
    /// <inheritdoc />
    public int? BosId => Bos;
    /// <inheritdoc />
    public int? EosId => Eos;
    /// <inheritdoc />
    public int? PadId => Pad;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>(text.Length);
        foreach (Rune r in text.EnumerateRunes())
        {
            if (!idOf.TryGetValue(r.Value, out int id))
                throw new ArgumentException($"character '{Printable(r)}' (U+{r.Value:X4}) is not in the tokenizer's {symbols.Length} symbols", nameof(text));
            ids.Add(id);
        }
        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            if (id < 0 || id >= VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id must be in [0, {VocabSize})");
            if (id >= FirstSymbolId) sb.Append(symbols[id - FirstSymbolId].ToString());
        }
        return sb.ToString();
    }

    /// <summary>The JSON form.</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["type"] = TypeName,
            ["pad_id"] = Pad,
            ["bos_id"] = Bos,
            ["eos_id"] = Eos,
            ["symbols"] = new JsonArray(symbols.Select(r => (JsonNode?)JsonValue.Create(r.ToString())).ToArray()),
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes <see cref="FileName"/> (or the given file), atomically.</summary>
    public void Save(string pathOrDirectory)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, FileName) : pathOrDirectory;
        string temp = SafeTensorsWriter.TemporaryPathFor(path);
        File.WriteAllText(temp, ToJson(), new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads <see cref="FileName"/> from a folder, or the given file.</summary>
    public static CharTokenizer Load(string pathOrDirectory)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, FileName) : pathOrDirectory;
        if (!File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        if (new FileInfo(path).Length > 16 << 20) throw new ModelFormatException(path, null, "is larger than 16 MiB; not a character tokenizer");
        return FromJson(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses the JSON form; <paramref name="file"/> names it in errors.</summary>
    public static CharTokenizer FromJson(byte[] utf8, string file)
    {
        using JsonDocument doc = JsonInput.Parse(utf8, file, null, "tokenizer");
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(file, null, "must be a JSON object");
        if (!root.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String || type.GetString() != TypeName)
            throw new ModelFormatException(file, "type", $"must be \"{TypeName}\"");
        foreach (var (field, expected) in new[] { ("pad_id", Pad), ("bos_id", Bos), ("eos_id", Eos) })
        {
            if (root.TryGetProperty(field, out JsonElement v) && (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int got) || got != expected))
                throw new ModelFormatException(file, field, $"must be {expected}, got {JsonInput.Describe(v)}");
        }
        if (!root.TryGetProperty("symbols", out JsonElement syms) || syms.ValueKind != JsonValueKind.Array || syms.GetArrayLength() == 0)
            throw new ModelFormatException(file, "symbols", "must be a non-empty array of one-character strings");
        var sb = new StringBuilder();
        var seen = new HashSet<int>();
        int i = 0;
        foreach (JsonElement s in syms.EnumerateArray())
        {
            string? text = s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (text is not { Length: > 0 } || !Rune.TryGetRuneAt(text, 0, out Rune r) || r.Utf16SequenceLength != text.Length)
                throw new ModelFormatException(file, $"symbols[{i}]", $"must be a string of exactly one character, got {JsonInput.Describe(s)}");
            if (!seen.Add(r.Value)) throw new ModelFormatException(file, $"symbols[{i}]", $"repeats '{Printable(r)}'; each symbol may appear once");
            sb.Append(text);
            i++;
        }
        return new CharTokenizer(sb.ToString());
    }

    private static string Printable(Rune r) => Rune.IsControl(r) ? $"\\u{r.Value:X4}" : r.ToString();
}
