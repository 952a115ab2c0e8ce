using System;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.IO;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

/// <summary>Tiny tokenizer.json files in the two supported shapes; expected ids worked out by hand from the merge ranks.</summary>
public sealed class HuggingFaceTokenizerTests
{
    /// <summary>An added token with every field the tokenizers library requires.</summary>
    private static JsonObject AddedToken(int id, string content) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
    };

    private static JsonObject Vocab(params string[] tokens)
    {
        var v = new JsonObject();
        for (int i = 0; i < tokens.Length; i++) v[tokens[i]] = i;
        return v;
    }

    /// <summary>GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves, the other 68 bytes take
    /// U+0100.. in order (so the space, byte 32, is U+0120 'Ġ'). Id = byte value.</summary>
    private static string[] ByteSymbols()
    {
        var symbols = new string[256];
        int next = 0x100;
        for (int b = 0; b < 256; b++)
            symbols[b] = ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? (char)b : (char)next++).ToString();
        return symbols;
    }

    /// <summary>GPT-2 style: byte-level pre-tokenizer, "Ġ" for a leading space; ids 0..255 the byte symbols, then
    /// he 256, ll 257, hell 258, hello 259, Ġw 260, or 261, &lt;|endoftext|&gt; 262.</summary>
    internal static byte[] ByteLevelJson()
    {
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(AddedToken(262, "<|endoftext|>")),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = Vocab(ByteSymbols().Concat(new[] { "he", "ll", "hell", "hello", "Ġw", "or", "<|endoftext|>" }).ToArray()),
                ["merges"] = new JsonArray("h e", "l l", "he ll", "hell o", "Ġ w", "o r"),
            },
        };
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    /// <summary>LLaMA-2 style: "▁" normalizer, byte fallback tokens &lt;0x00&gt;..&lt;0xFF&gt; at ids 3..258.</summary>
    internal static byte[] SentencePieceJson(bool metaspace = false)
    {
        var tokens = new[] { "<unk>", "<s>", "</s>" }
            .Concat(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"))
            .Concat(new[] { "▁", "h", "e", "l", "o", "w", "r", "d", "▁h", "ll", "▁he", "▁hell", "▁hello", "▁w", "or" }).ToArray();
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                AddedToken(0, "<unk>"),
                AddedToken(1, "<s>"),
                AddedToken(2, "</s>")),
            ["normalizer"] = metaspace ? null : new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
            },
            ["pre_tokenizer"] = metaspace ? new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false } : null,
            // Llama 2's decoder: "▁" -> " ", byte tokens -> bytes, join, drop the one leading space.
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["fuse_unk"] = true,
                ["byte_fallback"] = true,
                ["vocab"] = Vocab(tokens),
                ["merges"] = new JsonArray(new JsonArray("▁", "h"), new JsonArray("l", "l"), new JsonArray("▁h", "e"), new JsonArray("▁he", "ll"),
                    new JsonArray("▁hell", "o"), new JsonArray("▁", "w"), new JsonArray("o", "r")),
            },
        };
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    [Fact]
    public void Byte_level_bpe_applies_merges_by_rank()
    {
        var t = HuggingFaceTokenizer.Parse(ByteLevelJson(), "tokenizer.json", eosId: 262);
        // "hello" -> h e l l o -> he l l o -> he ll o -> hell o -> hello; " world" -> Ġw or l d ('l' = byte 108, 'd' = 100)
        Assert.Equal(new[] { 259, 260, 261, 108, 100 }, t.Encode("hello world"));
        // no merges apply: one byte symbol per byte, "é" as its two UTF-8 bytes
        Assert.Equal(new[] { 104, 105, 0xC3, 0xA9 }, t.Encode("hi\u00e9"));
        Assert.Equal("hello world", t.Decode(new[] { 259, 260, 261, 108, 100, 262 }));
        Assert.Equal(263, t.VocabSize);
        Assert.Equal("tokenizer.json BPE (byte-level)", t.Description);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SentencePiece_bpe_applies_merges_and_falls_back_to_bytes(bool metaspace)
    {
        var t = HuggingFaceTokenizer.Parse(SentencePieceJson(metaspace), "tokenizer.json", bosId: 1, eosId: 2);
        // "▁hello▁world" -> ▁hello ▁w or l d
        Assert.Equal(new[] { 271, 272, 273, 262, 266 }, t.Encode("hello world"));
        // 'i' and '\n' are not pieces: bytes 0x69 and 0x0A
        Assert.Equal(new[] { 267, 3 + 0x69, 3 + 0x0A }, t.Encode("hi\n"));
        Assert.Equal("hello world", t.Decode(new[] { 1, 271, 272, 273, 262, 266, 2 }));
    }

    [Fact]
    public void Byte_level_vocabulary_without_every_byte_is_refused()
    {
        byte[] json = Encoding.UTF8.GetBytes("{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
        var e = Assert.Throws<ModelFormatException>(() => HuggingFaceTokenizer.Parse(json, "tokenizer.json"));
        Assert.Equal("model.vocab", e.Item);
        Assert.Contains("lacks the byte-level symbol 'Ā' (U+0100)", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Byte_fallback_without_every_byte_token_is_refused()
    {
        JsonNode json = JsonNode.Parse(SentencePieceJson())!;
        Assert.Equal(68, (int)json["model"]!["vocab"]!["<0x41>"]!);
        json["model"]!["vocab"]!.AsObject().Remove("<0x41>");
        var e = Assert.Throws<ModelFormatException>(() => HuggingFaceTokenizer.Parse(Encoding.UTF8.GetBytes(json.ToJsonString()), "tokenizer.json"));
        Assert.Contains("lacks '<0x41>'", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Other_model_types_are_refused_with_the_supported_list()
    {
        byte[] json = Encoding.UTF8.GetBytes("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
        var e = Assert.Throws<ModelFormatException>(() => HuggingFaceTokenizer.Parse(json, "tokenizer.json"));
        Assert.Equal("model.type", e.Item);
        Assert.Contains("is 'WordPiece'; supported: BPE (byte-level", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoding_an_unknown_id_names_the_id_and_its_position()
    {
        using var t = HuggingFaceTokenizer.Parse(ByteLevelJson(), "tokenizer.json", eosId: 262);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode(new[] { 259, 260, 263 }));
        Assert.Contains("token id 263 at position 2 is not a token of this tokenizer", e.Message, StringComparison.Ordinal);
        Assert.Contains("ids 0..262", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tokenizer_larger_than_the_model_vocabulary_is_refused_naming_both_sizes()
    {
        using var t = HuggingFaceTokenizer.Parse(ByteLevelJson(), "tokenizer.json");
        Tokenizers.CheckAgainstModel(t, 263, "model");
        var e = Assert.Throws<ModelFormatException>(() => Tokenizers.CheckAgainstModel(t, 200, "model"));
        Assert.Contains("is 200 in config.json, but the tokenizer (tokenizer.json BPE (byte-level)) has 263 ids", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_merge_is_named()
    {
        byte[] json = Encoding.UTF8.GetBytes("{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}");
        var e = Assert.Throws<ModelFormatException>(() => HuggingFaceTokenizer.Parse(json, "tokenizer.json"));
        Assert.Equal("model.merges[0]", e.Item);
    }

    [Fact]
    public void Model_folder_loader_prefers_tokenizer_json_then_char_tokenizer_then_ids()
    {
        using var dir = new MoeDsl.Runtime.Tests.IO.TempFolder();
        Assert.Null(Tokenizers.Load(dir.Path));
        new CharTokenizer("ab").Save(dir.Path);
        Assert.IsType<CharTokenizer>(Tokenizers.Load(dir.Path));
        dir.Write("tokenizer.json", ByteLevelJson());
        Assert.IsType<HuggingFaceTokenizer>(Tokenizers.Load(dir.Path));
    }
}
