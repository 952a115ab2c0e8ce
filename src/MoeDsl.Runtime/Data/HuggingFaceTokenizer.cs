using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using MoeDsl.Runtime.IO;
using RustTokenizer = global::Tokenizers.DotNet.Tokenizer;
using RustTokenizerException = global::Tokenizers.DotNet.TokenizerException;

namespace MoeDsl.Runtime.Data;

/// <summary>A checkpoint's Hugging Face <c>tokenizer.json</c>, run by the Hugging Face tokenizers library itself (Rust,
/// through Tokenizers.DotNet 1.4.1): ids equal the reference implementation's by construction, and were checked against
/// @lenml/tokenizers on the real files of Llama 3, Qwen3, Gemma 3 and Mistral-7B (docs/data.md). Microsoft.ML.Tokenizers
/// was evaluated on the same corpus and is not exact (NFC normalisation, added non-special tokens, SentencePiece merge
/// order), so it is not used.
/// <para>This class reads the file first (one clear error per problem: <c>model.type</c> must be BPE, the vocabulary,
/// merges and added tokens must be well-formed, a byte-level vocabulary must hold all 256 byte symbols, byte fallback
/// needs &lt;0x00&gt;..&lt;0xFF&gt;), then hands the library a copy without <c>post_processor</c>, <c>truncation</c> and
/// <c>padding</c>: <see cref="Encode"/> returns the text's ids alone, and the special tokens the post-processor would add
/// (its single-sequence template) are reported as <see cref="PostProcessorPrefix"/> / <see cref="PostProcessorSuffix"/>
/// for the BOS/EOS rules (<see cref="Tokenizers.Load"/>). Added tokens written in the text (e.g. <c>&lt;|im_start|&gt;</c>)
/// become their ids, as in transformers. <see cref="Decode"/> leaves special tokens out and refuses an id the tokenizer
/// does not know, naming it and its position.</para></summary>
public sealed class HuggingFaceTokenizer : ITokenizer, IDisposable
{
    /// <summary>The file name in a checkpoint folder.</summary>
    public const string FileName = "tokenizer.json";
    /// <summary>Largest tokenizer.json accepted.</summary>
    public const long MaxFileBytes = 200_000_000;

    /// <summary>Largest vocabulary accepted (ids must be below it).</summary>
    public const int MaxVocabulary = 4_000_000;

    private readonly RustTokenizer inner;
    private readonly bool[] known;
    private readonly HashSet<int> specialIds;
    private readonly Dictionary<string, int> tokenIds;

    private HuggingFaceTokenizer(RustTokenizer inner, string file, string description, int vocabSize, bool[] known, Dictionary<string, int> tokenIds,
        IReadOnlyList<string> specialTokens, IReadOnlyList<int> prefix, IReadOnlyList<int> suffix, int? bos, int? eos, int? pad)
    {
        this.inner = inner;
        SourceFile = file;
        Description = description;
        VocabSize = vocabSize;
        this.known = known;
        this.tokenIds = tokenIds;
        SpecialTokens = specialTokens;
        specialIds = new HashSet<int>(specialTokens.Select(t => tokenIds[t]));
        foreach (int? id in new[] { bos, eos, pad }) if (id is int v) specialIds.Add(v);
        PostProcessorPrefix = prefix;
        PostProcessorSuffix = suffix;
        BosId = bos;
        EosId = eos;
        PadId = pad;
    }

    /// <summary>The tokenizer.json it was read from (as given to <see cref="Load"/> or <see cref="Parse"/>); errors
    /// about its folder's other files (tokenizer_config.json) name them beside it.</summary>
    public string SourceFile { get; }
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
    /// <summary>The added tokens marked special (their text in the input becomes their id).</summary>
    public IReadOnlyList<string> SpecialTokens { get; }
    /// <summary>The special token ids tokenizer.json's post-processor puts before a single sequence (e.g. Gemma's
    /// &lt;bos&gt;); empty without a TemplateProcessing post-processor.</summary>
    public IReadOnlyList<int> PostProcessorPrefix { get; }
    /// <summary>The special token ids the post-processor puts after a single sequence.</summary>
    public IReadOnlyList<int> PostProcessorSuffix { get; }

    /// <summary>The same tokenizer (sharing the native one) with other BOS/EOS/PAD ids, checked against the vocabulary.</summary>
    internal HuggingFaceTokenizer WithSpecialIds(int? bos, int? eos, int? pad, string file, ChatFormat? chat = null)
    {
        foreach (var (name, id) in new[] { ("bos", bos), ("eos", eos), ("pad", pad) })
            if (id is int v && (v < 0 || v >= VocabSize)) throw new ModelFormatException(file, name + "_token_id", $"is {v}, outside the tokenizer's {VocabSize} ids");
        return new HuggingFaceTokenizer(inner, SourceFile, Description, VocabSize, known, tokenIds, SpecialTokens, PostProcessorPrefix, PostProcessorSuffix, bos, eos, pad) { Chat = chat };
    }

    /// <summary>The checkpoint's chat template (tokenizer_config.json), when it has one; conversations need it.</summary>
    public ChatFormat? Chat { get; private init; }

    /// <summary>The id of a token's text (vocabulary or added token), if it has one.</summary>
    public int? IdOf(string token) => tokenIds.TryGetValue(token, out int id) ? id : null;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Contains('\0', StringComparison.Ordinal)) throw new ArgumentException("the text contains a NUL character, which the tokenizer library cannot take", nameof(text));
        uint[] ids;
        try { ids = inner.Encode(text); }
        catch (RustTokenizerException e) { throw new ArgumentException($"the tokenizer library refused this text: {e.Message}", nameof(text)); }
        var result = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            if (ids[i] >= (uint)VocabSize) throw new ArgumentException($"the tokenizer produced id {ids[i]}, outside its {VocabSize} ids, for this text", nameof(text));
            result[i] = (int)ids[i];
        }
        return result;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        var kept = new List<uint>();
        int position = 0;
        foreach (int id in ids)
        {
            if (id < 0 || id >= VocabSize || !known[id])
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} at position {position} is not a token of this tokenizer ({Description}, ids 0..{VocabSize - 1})");
            if (!specialIds.Contains(id)) kept.Add((uint)id);
            position++;
        }
        if (kept.Count == 0) return "";
        try { return inner.Decode(kept.ToArray()); }
        catch (RustTokenizerException e) { throw new ArgumentException($"the tokenizer library could not decode these ids: {e.Message}", nameof(ids)); }
    }

    /// <summary>Releases the native tokenizer.</summary>
    public void Dispose() => inner.Dispose();

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
            throw new ModelFormatException(file, "model.type", $"is '{type}'; supported: BPE (byte-level as in GPT-2/Llama 3/Qwen, or SentencePiece-style with byte_fallback as in Llama 2/Mistral/Gemma)");

        var vocab = ReadVocab(model, file);
        ReadMerges(model, file);
        var added = ReadAddedTokens(root, file);
        int vocabSize = Math.Max(vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        var tokenIds = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        var known = new bool[vocabSize];
        foreach (int id in vocab.Values) known[id] = true;
        foreach (AddedToken a in added)
        {
            if (tokenIds.TryGetValue(a.Content, out int existing) && existing != a.Id)
                throw new ModelFormatException(file, "added_tokens", $"gives '{a.Content}' id {a.Id}, but the vocabulary has it as {existing}");
            tokenIds[a.Content] = a.Id;
            known[a.Id] = true;
        }
        foreach (var (name, id) in new[] { ("bos", bosId), ("eos", eosId), ("pad", padId) })
            if (id is int v && (v < 0 || v >= vocabSize)) throw new ModelFormatException(file, name + "_token_id", $"is {v}, outside the tokenizer's {vocabSize} ids");

        JsonElement pre = root.TryGetProperty("pre_tokenizer", out JsonElement p) ? p : default;
        bool byteLevel = FindComponent(pre, "ByteLevel") is not null;
        if (byteLevel)
        {
            foreach (char symbol in ByteLevelSymbols())
                if (!vocab.ContainsKey(symbol.ToString()))
                    throw new ModelFormatException(file, "model.vocab", $"lacks the byte-level symbol '{symbol}' (U+{(int)symbol:X4}); a byte-level vocabulary holds all 256 byte symbols");
        }
        bool byteFallback = model.TryGetProperty("byte_fallback", out JsonElement bf) && bf.ValueKind == JsonValueKind.True;
        if (byteFallback)
        {
            for (int b = 0; b < 256; b++)
                if (!vocab.ContainsKey($"<0x{b:X2}>"))
                    throw new ModelFormatException(file, "model.vocab", $"lacks '<0x{b:X2}>'; byte_fallback needs the 256 byte tokens <0x00>..<0xFF>");
        }
        var (prefix, suffix) = PostProcessorTemplate(root, file);
        string description = byteLevel ? "tokenizer.json BPE (byte-level)" : byteFallback ? "tokenizer.json BPE (SentencePiece, byte fallback)" : "tokenizer.json BPE";
        var specials = added.Where(a => a.Special).Select(a => a.Content).Distinct().ToArray();
        return new HuggingFaceTokenizer(Build(root, file), file, description, vocabSize, known, tokenIds, specials, prefix, suffix, bosId, eosId, padId);
    }

    /// <summary>Loads the library on a copy of the file without post-processor, truncation and padding.</summary>
    private static RustTokenizer Build(JsonElement root, string file)
    {
        string copy = Path.Combine(Path.GetTempPath(), $"moedsl-tokenizer-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            using (var stream = File.Create(copy))
            using (var writer = new Utf8JsonWriter(stream))
            {
                writer.WriteStartObject();
                foreach (JsonProperty property in root.EnumerateObject())
                {
                    if (property.Name is "post_processor" or "truncation" or "padding") writer.WriteNull(property.Name);
                    else property.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            try { return new RustTokenizer(copy); }
            catch (RustTokenizerException e) { throw new ModelFormatException(file, null, $"is refused by the Hugging Face tokenizers library: {e.Message}"); }
        }
        finally
        {
            try { File.Delete(copy); }
            catch (IOException) { }
        }
    }

    /// <summary>The special tokens around sequence A in the post-processor's <c>single</c> template (TemplateProcessing,
    /// alone or inside a Sequence).</summary>
    private static (int[] Prefix, int[] Suffix) PostProcessorTemplate(JsonElement root, string file)
    {
        if (!root.TryGetProperty("post_processor", out JsonElement pp) || FindComponent(pp, "TemplateProcessing") is not JsonElement template)
            return (Array.Empty<int>(), Array.Empty<int>());
        if (!template.TryGetProperty("single", out JsonElement single) || single.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(file, "post_processor.single", "must be an array");
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        foreach (JsonElement piece in single.EnumerateArray())
        {
            if (piece.ValueKind == JsonValueKind.Object && piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
            if (piece.ValueKind != JsonValueKind.Object || !piece.TryGetProperty("SpecialToken", out JsonElement st) || !st.TryGetProperty("id", out JsonElement name) || name.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(file, "post_processor.single", "must hold {\"Sequence\": ...} and {\"SpecialToken\": {\"id\": \"...\"}} entries");
            if (!template.TryGetProperty("special_tokens", out JsonElement table) || table.ValueKind != JsonValueKind.Object
                || !table.TryGetProperty(name.GetString()!, out JsonElement entry) || entry.ValueKind != JsonValueKind.Object
                || !entry.TryGetProperty("ids", out JsonElement ids) || ids.ValueKind != JsonValueKind.Array)
                throw new ModelFormatException(file, "post_processor.special_tokens", $"has no ids for '{name.GetString()}'");
            foreach (JsonElement id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int v) || v < 0)
                    throw new ModelFormatException(file, "post_processor.special_tokens", $"'{name.GetString()}' has an id that is not a non-negative integer");
                (seenSequence ? suffix : prefix).Add(v);
            }
        }
        return (prefix.ToArray(), suffix.ToArray());
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
            foreach (string key in new[] { "pretokenizers", "normalizers", "processors" })
                if (element.TryGetProperty(key, out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                    foreach (JsonElement x in list.EnumerateArray())
                        if (FindComponent(x, type) is JsonElement found) return found;
        }
        return null;
    }
}
