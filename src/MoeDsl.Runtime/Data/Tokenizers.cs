using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>Finds a model folder's tokenizer and checks it against the model.</summary>
public static class Tokenizers
{
    /// <summary>The tokenizer of a model folder: <c>tokenizer.json</c> (<see cref="HuggingFaceTokenizer"/>), else
    /// <c>char_tokenizer.json</c> (<see cref="CharTokenizer"/>), else null: the folder is driven by token ids
    /// (<see cref="TokenIds.Parse"/>). A tokenizer.json with more ids than config.json's <c>vocab_size</c> is refused
    /// (<see cref="CheckAgainstModel"/>).
    /// <para>BOS/EOS rules for tokenizer.json, as transformers applies them: the BOS and EOS tokens are
    /// tokenizer_config.json's <c>bos_token</c> / <c>eos_token</c>, else config.json's <c>bos_token_id</c> /
    /// <c>eos_token_id</c>. BOS is put before every encoded sequence (<see cref="ITokenizer.BosId"/> set) when
    /// tokenizer_config.json's <c>add_bos_token</c> says so, else when tokenizer.json's post-processor puts it first
    /// (Gemma, Mistral), else — a folder without tokenizer_config.json and without a post-processor template — when
    /// config.json names one. EOS is appended to training text only (<see cref="SequenceOptions.AddEos"/>).</para></summary>
    public static ITokenizer? Load(string modelDirectory)
    {
        string hf = Path.Combine(modelDirectory, HuggingFaceTokenizer.FileName);
        if (File.Exists(hf))
        {
            string configPath = Path.Combine(modelDirectory, "config.json");
            LlamaConfig? config = File.Exists(configPath) ? LlamaConfig.Load(configPath) : null;
            TokenizerConfig? tc = TokenizerConfig.LoadIfPresent(modelDirectory);
            HuggingFaceTokenizer plain = HuggingFaceTokenizer.Load(hf);
            int? bos = Id(plain, tc?.BosToken, "bos_token", modelDirectory) ?? config?.BosTokenId;
            int? eos = Id(plain, tc?.EosToken, "eos_token", modelDirectory) ?? config?.EosTokenId;
            int? pad = Id(plain, tc?.PadToken, "pad_token", modelDirectory);
            bool addBos = tc?.AddBosToken
                ?? (plain.PostProcessorPrefix.Count > 0 ? bos is int b && plain.PostProcessorPrefix.Contains(b) : tc is null && bos is not null);
            ChatFormat? chat = tc?.ChatTemplate is string source
                ? new ChatFormat(source, Path.Combine(modelDirectory, TokenizerConfig.FileName), new Dictionary<string, string?>
                {
                    ["bos_token"] = tc.BosToken, ["eos_token"] = tc.EosToken, ["pad_token"] = tc.PadToken, ["unk_token"] = tc.UnkToken,
                }, plain.SpecialTokens)
                : null;
            HuggingFaceTokenizer result = plain.WithSpecialIds(addBos ? bos : null, eos, pad, hf, chat);
            if (config is not null) CheckAgainstModel(result, config.VocabSize, modelDirectory);
            return result;
        }
        string chars = Path.Combine(modelDirectory, CharTokenizer.FileName);
        return File.Exists(chars) ? CharTokenizer.Load(chars) : null;
    }

    private static int? Id(HuggingFaceTokenizer tokenizer, string? token, string field, string directory)
    {
        if (token is null) return null;
        return tokenizer.IdOf(token) ?? throw new ModelFormatException(Path.Combine(directory, TokenizerConfig.FileName), field, $"'{token}' is not a token of tokenizer.json");
    }

    /// <summary>Refuses a tokenizer that can produce ids the model has no embedding for, naming both sizes.</summary>
    public static void CheckAgainstModel(ITokenizer tokenizer, int modelVocabulary, string modelDirectory)
    {
        if (tokenizer.VocabSize > modelVocabulary)
            throw new ModelFormatException(modelDirectory, "vocab_size", $"is {modelVocabulary} in config.json, but the tokenizer ({tokenizer.Description}) has {tokenizer.VocabSize} ids; use the tokenizer that belongs to the checkpoint, or a checkpoint whose vocabulary holds the tokenizer's ids");
    }
}
