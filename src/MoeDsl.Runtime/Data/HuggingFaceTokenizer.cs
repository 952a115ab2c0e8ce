using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>A checkpoint's Hugging Face <c>tokenizer.json</c>, run by Microsoft.ML.Tokenizers 2.0.1. That library has no
/// tokenizer.json reader, so this class reads the file and builds the equivalent library tokenizer. Supported (the
/// tokenizers of the LLaMA family):
/// <list type="bullet">
/// <item><b>Byte-level BPE</b> (GPT-2, LLaMA-3, Qwen, Mistral-Nemo): <c>model.type</c> "BPE" with a <c>ByteLevel</c>
/// pre-tokenizer (alone, or after a <c>Split</c> whose regex is used). Built as <see cref="BpeTokenizer"/> with
/// <c>ByteLevel = true</c>.</item>
/// <item><b>SentencePiece BPE</b> (LLaMA-1/2, Mistral-7B, TinyLlama, Vicuna): <c>model.type</c> "BPE" with
/// <c>byte_fallback</c> and "▁" for spaces (a <c>Prepend</c>/<c>Replace</c> normalizer or a <c>Metaspace</c>
/// pre-tokenizer). Rebuilt as a SentencePiece model (piece scores from merge ranks: a piece made by merge r scores -r)
/// and loaded with <see cref="LlamaTokenizer.Create"/>; this equals the original when every multi-character piece is the
/// product of a merge, which holds for tokenizers converted from SentencePiece.</item>
/// </list>
/// Anything else (WordPiece, Unigram, other pre-tokenizers) is refused with a <see cref="ModelFormatException"/> naming
/// the field and these two kinds. Special tokens are the <c>added_tokens</c> marked special; BOS/EOS/PAD ids come from the
/// caller (a checkpoint's config.json, see <see cref="Tokenizers.Load"/>).</summary>
public sealed class HuggingFaceTokenizer : ITokenizer
{
    /// <summary>The file name in a checkpoint folder.</summary>
    public const string FileName = "tokenizer.json";
    /// <summary>Largest tokenizer.json accepted.</summary>
    public const long MaxFileBytes = 200_000_000;

    /// <summary>Largest vocabulary accepted (ids must be below it).</summary>
    public const int MaxVocabulary = 4_000_000;

    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly HashSet<int> specialIds;

    private HuggingFaceTokenizer(Tokenizer inner, string description, int vocabSize, HashSet<int> specialIds, int? bos, int? eos, int? pad)
    {
        Inner = inner;
        Description = description;
        VocabSize = vocabSize;
        this.specialIds = specialIds;
        BosId = bos;
        EosId = eos;
        PadId = pad;
    }

    /// <summary>The Microsoft.ML.Tokenizers tokenizer doing the work.</summary>
    public Tokenizer Inner { get; }
    /// <inheritdoc />
    public string Description { get; }
    /// <inheritdoc />
    public int VocabSize { get; }
    /// <inheritdoc />
    public int? BosId { get; }
    /// <inheritdoc />
    public int? EosId { get; }
    /// <inheritdoc />
    public int? PadId { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        IReadOnlyList<int> ids = Inner is SentencePieceTokenizer sp
            ? sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true)
            : Inner.EncodeToIds(text);
        foreach (int id in ids)
            if (id < 0 || id >= VocabSize) throw new ArgumentException($"the tokenizer produced id {id}, outside its {VocabSize} ids, for this text; the text has a symbol the vocabulary lacks", nameof(text));
        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        var kept = new List<int>();
        foreach (int id in ids)
        {
            if (id < 0 || id >= VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id must be in [0, {VocabSize})");
            if (!specialIds.Contains(id)) kept.Add(id);
        }
        return Inner.Decode(kept);
    }

    /// <summary>Reads <c>tokenizer.json</c> from a folder, or the given file.</summary>
    public static HuggingFaceTokenizer Load(string pathOrDirectory, int? bosId = null, int? eosId = null, int? padId = null)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, FileName) : pathOrDirectory;
        if (!File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new ModelFormatException(path, null, $"is {length} bytes; a tokenizer.json larger than {MaxFileBytes} bytes is refused");
        return Parse(File.ReadAllBytes(path), path, bosId, eosId, padId);
    }

    /// <summary>Builds the tokenizer from tokenizer.json bytes; <paramref name="file"/> names it in errors.</summary>
    public static HuggingFaceTokenizer Parse(byte[] utf8, string file, int? bosId = null, int? eosId = null, int? padId = null)
    {
        using JsonDocument doc = JsonInput.Parse(utf8, file, null, "tokenizer");
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(file, null, "must be a JSON object");
        if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(file, "model", "is missing; a tokenizer.json has a 'model' object");
        string type = model.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(none)";
        if (type != "BPE")
            throw new ModelFormatException(file, "model.type", $"is '{type}'; supported: BPE (byte-level as in GPT-2/LLaMA-3, or SentencePiece-style with byte_fallback as in LLaMA-2)");

        var vocab = ReadVocab(model, file);
        var merges = ReadMerges(model, file);
        var added = ReadAddedTokens(root, file);
        int vocabSize = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        foreach (var (name, id) in new[] { ("bos", bosId), ("eos", eosId), ("pad", padId) })
            if (id is int v && (v < 0 || v >= vocabSize)) throw new ModelFormatException(file, name + "_token_id", $"is {v}, outside the tokenizer's {vocabSize} ids");
        var special = added.Where(a => a.Special).ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        var specialIds = new HashSet<int>(special.Values);
        foreach (int? id in new[] { bosId, eosId, padId }) if (id is int v) specialIds.Add(v);

        JsonElement pre = root.TryGetProperty("pre_tokenizer", out JsonElement p) ? p : default;
        JsonElement norm = root.TryGetProperty("normalizer", out JsonElement n) ? n : default;
        bool byteFallback = model.TryGetProperty("byte_fallback", out JsonElement bf) && bf.ValueKind == JsonValueKind.True;

        if (FindComponent(pre, "ByteLevel") is not null)
        {
            string pattern = Gpt2Pattern;
            if (FindComponent(pre, "Split") is JsonElement split && split.TryGetProperty("pattern", out JsonElement pat))
            {
                if (pat.ValueKind == JsonValueKind.Object && pat.TryGetProperty("Regex", out JsonElement rx) && rx.ValueKind == JsonValueKind.String) pattern = rx.GetString()!;
                else throw new ModelFormatException(file, "pre_tokenizer.pattern", "must be {\"Regex\": \"...\"} for a byte-level tokenizer");
            }
            foreach (char symbol in ByteLevelSymbols())
                if (!vocab.ContainsKey(symbol.ToString()))
                    throw new ModelFormatException(file, "model.vocab", $"lacks the byte-level symbol '{symbol}' (U+{(int)symbol:X4}); a byte-level vocabulary holds all 256 byte symbols");
            Regex regex;
            try { regex = new Regex(pattern, RegexOptions.Compiled, TimeSpan.FromSeconds(5)); }
            catch (ArgumentException e) { throw new ModelFormatException(file, "pre_tokenizer.pattern", $"is not a regular expression .NET accepts: {e.Message}"); }
            var options = new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(regex, special.Count > 0 ? special : null),
                SpecialTokens = special.Count > 0 ? special : null,
            };
            Tokenizer inner;
            try { inner = BpeTokenizer.Create(options); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
            { throw new ModelFormatException(file, "model", $"could not be built as a byte-level BPE tokenizer: {e.Message}"); }
            return new HuggingFaceTokenizer(inner, "tokenizer.json BPE (byte-level)", vocabSize, specialIds, bosId, eosId, padId);
        }

        bool metaspace = FindComponent(pre, "Metaspace") is not null || FindComponent(norm, "Replace") is JsonElement r && r.TryGetProperty("content", out JsonElement c) && c.GetString() == "\u2581";
        if (metaspace && byteFallback)
        {
            bool dummyPrefix = FindComponent(norm, "Prepend") is not null
                || FindComponent(pre, "Metaspace") is JsonElement m && !(m.TryGetProperty("prepend_scheme", out JsonElement ps) && ps.GetString() == "never") && !(m.TryGetProperty("add_prefix_space", out JsonElement aps) && aps.ValueKind == JsonValueKind.False);
            if (!vocab.TryGetValue("<0x00>", out int byteBase))
                throw new ModelFormatException(file, "model.vocab", "lacks '<0x00>'; byte_fallback needs the 256 byte tokens <0x00>..<0xFF> with consecutive ids");
            for (int b = 1; b < 256; b++)
                if (!vocab.TryGetValue($"<0x{b:X2}>", out int byteId) || byteId != byteBase + b)
                    throw new ModelFormatException(file, "model.vocab", $"'<0x{b:X2}>' must have id {byteBase + b}; byte_fallback needs the 256 byte tokens <0x00>..<0xFF> with consecutive ids");
            string unk = model.TryGetProperty("unk_token", out JsonElement u) && u.ValueKind == JsonValueKind.String ? u.GetString()! : "<unk>";
            byte[] proto = SentencePieceProto(vocab, merges, added, unk, dummyPrefix, vocabSize, file, bosId, eosId);
            Tokenizer inner;
            try
            {
                using var stream = new MemoryStream(proto);
                inner = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: special.Count > 0 ? special : null);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or NotSupportedException)
            { throw new ModelFormatException(file, "model", $"could not be built as a SentencePiece BPE tokenizer: {e.Message}"); }
            return new HuggingFaceTokenizer(inner, "tokenizer.json BPE (SentencePiece, byte fallback)", vocabSize, specialIds, bosId, eosId, padId);
        }

        throw new ModelFormatException(file, "pre_tokenizer", "is neither ByteLevel nor SentencePiece-style (Metaspace or a '\u2581' normalizer with model.byte_fallback); supported: byte-level BPE (GPT-2, LLaMA-3, Qwen) and SentencePiece BPE with byte fallback (LLaMA-2, Mistral, TinyLlama)");
    }

    /// <summary>The 256 characters GPT-2's byte-level encoding maps bytes to: printable Latin-1 bytes map to themselves,
    /// the others (0-32, 127-160, 173) to U+0100 onwards in byte order.</summary>
    private static IEnumerable<char> ByteLevelSymbols()
    {
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            yield return printable ? (char)b : (char)next++;
        }
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string file)
    {
        if (!model.TryGetProperty("vocab", out JsonElement v) || v.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(file, "model.vocab", "must be an object mapping tokens to ids");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new HashSet<int>();
        foreach (JsonProperty e in v.EnumerateObject())
        {
            if (e.Value.ValueKind != JsonValueKind.Number || !e.Value.TryGetInt32(out int id) || id < 0 || id >= MaxVocabulary)
                throw new ModelFormatException(file, "model.vocab." + e.Name, $"must map to an integer id in [0, {MaxVocabulary}), got {JsonInput.Describe(e.Value)}");
            if (!ids.Add(id)) throw new ModelFormatException(file, "model.vocab." + e.Name, $"reuses id {id}; each id belongs to one token");
            vocab.Add(e.Name, id);
        }
        if (vocab.Count == 0) throw new ModelFormatException(file, "model.vocab", "is empty");
        return vocab;
    }

    private static List<string> ReadMerges(JsonElement model, string file)
    {
        var merges = new List<string>();
        if (!model.TryGetProperty("merges", out JsonElement m) || m.ValueKind == JsonValueKind.Null) return merges;
        if (m.ValueKind != JsonValueKind.Array) throw new ModelFormatException(file, "model.merges", "must be an array");
        int i = 0;
        foreach (JsonElement e in m.EnumerateArray())
        {
            // Older files write "a b", newer ones ["a", "b"].
            if (e.ValueKind == JsonValueKind.String && e.GetString()!.Split(' ') is { Length: 2 } parts && parts[0].Length > 0 && parts[1].Length > 0) merges.Add(e.GetString()!);
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2 && e[0].ValueKind == JsonValueKind.String && e[1].ValueKind == JsonValueKind.String
                && !e[0].GetString()!.Contains(' ') && !e[1].GetString()!.Contains(' ') && e[0].GetString()!.Length > 0 && e[1].GetString()!.Length > 0)
                merges.Add(e[0].GetString() + " " + e[1].GetString());
            else throw new ModelFormatException(file, $"model.merges[{i}]", $"must be \"left right\" or [\"left\", \"right\"] (no spaces inside), got {JsonInput.Describe(e)}");
            i++;
        }
        return merges;
    }

    private sealed record AddedToken(int Id, string Content, bool Special);

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string file)
    {
        var result = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out JsonElement a) || a.ValueKind == JsonValueKind.Null) return result;
        if (a.ValueKind != JsonValueKind.Array) throw new ModelFormatException(file, "added_tokens", "must be an array");
        int i = 0;
        foreach (JsonElement e in a.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("id", out JsonElement id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int v) || v < 0 || v >= MaxVocabulary
                || !e.TryGetProperty("content", out JsonElement c) || c.ValueKind != JsonValueKind.String || c.GetString()!.Length == 0)
                throw new ModelFormatException(file, $"added_tokens[{i}]", "must be an object with a non-negative integer 'id' and a non-empty string 'content'");
            bool special = e.TryGetProperty("special", out JsonElement s) && s.ValueKind == JsonValueKind.True;
            result.Add(new AddedToken(v, c.GetString()!, special));
            i++;
        }
        return result;
    }

    /// <summary>The first component of the given type in a normalizer/pre-tokenizer (a single one or a Sequence).</summary>
    private static JsonElement? FindComponent(JsonElement element, string type)
    {
        if (element.ValueKind != JsonValueKind.Object) return null;
        string? own = element.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (own == type) return element;
        if (own == "Sequence")
        {
            foreach (string key in new[] { "pretokenizers", "normalizers" })
                if (element.TryGetProperty(key, out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                    foreach (JsonElement x in list.EnumerateArray())
                        if (FindComponent(x, type) is JsonElement found) return found;
        }
        return null;
    }

    /// <summary>Serialises a SentencePiece ModelProto (sentencepiece_model.proto field numbers) for a BPE model.</summary>
    private static byte[] SentencePieceProto(Dictionary<string, int> vocab, List<string> merges, List<AddedToken> added, string unk, bool dummyPrefix, int vocabSize, string file, int? bos, int? eos)
    {
        var pieces = new string?[vocabSize];
        foreach (var (token, id) in vocab) pieces[id] = token;
        foreach (AddedToken a in added) pieces[a.Id] ??= a.Content;
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int r = 0; r < merges.Count; r++)
        {
            string merged = merges[r].Replace(" ", "", StringComparison.Ordinal);
            rank.TryAdd(merged, r);
        }
        var specials = new HashSet<int>(added.Where(a => a.Special).Select(a => a.Id));
        int unkId = vocab.TryGetValue(unk, out int uid) ? uid : -1;
        if (unkId < 0) throw new ModelFormatException(file, "model.unk_token", $"'{unk}' is not in the vocabulary; a SentencePiece tokenizer needs its unknown token");

        using var ms = new MemoryStream();
        for (int id = 0; id < vocabSize; id++)
        {
            string piece = pieces[id] ?? $"<unused{id}>";
            int kind = id == unkId ? 2                                                   // UNKNOWN
                : pieces[id] is null ? 5                                                 // UNUSED
                : specials.Contains(id) || id == bos || id == eos ? 3                    // CONTROL
                : piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece.EndsWith('>') ? 6 // BYTE
                : 1;                                                                     // NORMAL
            float score = rank.TryGetValue(piece, out int r) ? -r : piece.EnumerateRunes().Count() == 1 ? 0f : -1e9f;
            using var inner = new MemoryStream();
            WriteString(inner, 1, piece);
            WriteTag(inner, 2, 5); inner.Write(BitConverter.GetBytes(score));
            WriteTag(inner, 3, 0); WriteVarint(inner, (ulong)kind);
            WriteBytes(ms, 1, inner.ToArray());
        }
        using (var trainer = new MemoryStream())
        {
            WriteTag(trainer, 3, 0); WriteVarint(trainer, 2);                        // model_type = BPE
            WriteTag(trainer, 4, 0); WriteVarint(trainer, (ulong)vocabSize);         // vocab_size
            WriteTag(trainer, 35, 0); WriteVarint(trainer, 1);                       // byte_fallback
            WriteTag(trainer, 40, 0); WriteVarint(trainer, (ulong)unkId);            // unk_id
            WriteTag(trainer, 41, 0); WriteVarint(trainer, unchecked((ulong)(long)(bos ?? -1))); // bos_id
            WriteTag(trainer, 42, 0); WriteVarint(trainer, unchecked((ulong)(long)(eos ?? -1))); // eos_id
            WriteTag(trainer, 43, 0); WriteVarint(trainer, unchecked((ulong)-1L));   // pad_id
            WriteBytes(ms, 2, trainer.ToArray());
        }
        using (var normalizer = new MemoryStream())
        {
            WriteString(normalizer, 1, "identity");
            WriteTag(normalizer, 3, 0); WriteVarint(normalizer, dummyPrefix ? 1UL : 0UL); // add_dummy_prefix
            WriteTag(normalizer, 4, 0); WriteVarint(normalizer, 0);                      // remove_extra_whitespaces
            WriteTag(normalizer, 5, 0); WriteVarint(normalizer, 1);                      // escape_whitespaces
            WriteBytes(ms, 3, normalizer.ToArray());
        }
        return ms.ToArray();
    }

    private static void WriteTag(Stream s, int field, int wire) => WriteVarint(s, (ulong)((field << 3) | wire));

    private static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    private static void WriteBytes(Stream s, int field, byte[] bytes)
    {
        WriteTag(s, field, 2);
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    private static void WriteString(Stream s, int field, string text) => WriteBytes(s, field, Encoding.UTF8.GetBytes(text));
}
