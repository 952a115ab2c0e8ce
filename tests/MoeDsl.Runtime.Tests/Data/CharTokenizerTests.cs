using System;
using System.Text;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Tests.IO;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

public sealed class CharTokenizerTests
{
    [Fact]
    public void Ids_start_after_pad_bos_eos_in_symbol_order()
    {
        var t = new CharTokenizer("ba\nb");
        Assert.Equal(6, t.VocabSize);
        Assert.Equal(new[] { 4, 3, 5, 3 }, t.Encode("ab\nb"));
        Assert.Equal("ab\nb", t.Decode(new[] { 1, 4, 3, 5, 3, 2, 0 }));
        Assert.Equal((0, 1, 2), (t.PadId!.Value, t.BosId!.Value, t.EosId!.Value));
    }

    [Fact]
    public void Unknown_character_is_named()
    {
        var e = Assert.Throws<ArgumentException>(() => new CharTokenizer("ab").Encode("abc"));
        Assert.StartsWith("character 'c' (U+0063) is not in the tokenizer's 2 symbols", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_file_round_trip_keeps_every_id()
    {
        var t = new CharTokenizer("\n \"\\é😀abc");
        using var dir = new TempFolder();
        t.Save(dir.Path);
        CharTokenizer back = CharTokenizer.Load(dir.Path);
        Assert.Equal(t.Symbols, back.Symbols);
        Assert.Equal(t.Encode("a😀\"\\\n"), back.Encode("a😀\"\\\n"));
        Assert.Equal(new[] { dir.File(CharTokenizer.FileName) }, System.IO.Directory.GetFiles(dir.Path));
    }

    [Theory]
    [InlineData("{\"type\": \"moedsl-char\", \"symbols\": [\"a\", \"a\"]}", "symbols[1]", "repeats 'a'")]
    [InlineData("{\"type\": \"moedsl-char\", \"symbols\": [\"ab\"]}", "symbols[0]", "must be a string of exactly one character")]
    [InlineData("{\"type\": \"moedsl-char\", \"symbols\": [\"a\", \"\"]}", "symbols[1]", "must be a string of exactly one character")]
    [InlineData("{\"type\": \"moedsl-char\", \"bos_id\": 5, \"symbols\": [\"a\"]}", "bos_id", "must be 1")]
    [InlineData("{\"type\": \"bpe\", \"symbols\": [\"a\"]}", "type", "must be \"moedsl-char\"")]
    [InlineData("{\"type\": \"moedsl-char\", \"symbols\": []}", "symbols", "must be a non-empty array")]
    public void Malformed_file_is_refused(string json, string item, string expected)
    {
        var e = Assert.Throws<ModelFormatException>(() => CharTokenizer.FromJson(Encoding.UTF8.GetBytes(json), "char_tokenizer.json"));
        Assert.Equal(item, e.Item);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Token_ids_parse_for_id_only_mode()
    {
        Assert.Equal(new[] { 1, 403, 7 }, TokenIds.Parse("1 403, 7", 512));
        Assert.Contains("token id 512 is outside the vocabulary [0, 512)", Assert.Throws<ArgumentException>(() => TokenIds.Parse("1 512", 512)).Message, StringComparison.Ordinal);
        Assert.Contains("'x' is not a token id", Assert.Throws<ArgumentException>(() => TokenIds.Parse("1 x", 512)).Message, StringComparison.Ordinal);
        Assert.Contains("'-3' is not a token id", Assert.Throws<ArgumentException>(() => TokenIds.Parse("-3", 512)).Message, StringComparison.Ordinal);
    }
}
