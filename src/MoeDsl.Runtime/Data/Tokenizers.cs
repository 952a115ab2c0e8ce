using System.IO;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>Finds a model folder's tokenizer.</summary>
public static class Tokenizers
{
    /// <summary>The tokenizer of a model folder: <c>tokenizer.json</c> (<see cref="HuggingFaceTokenizer"/>, BOS/EOS ids from
    /// config.json when present), else <c>char_tokenizer.json</c> (<see cref="CharTokenizer"/>), else null: the folder is
    /// driven by token ids (<see cref="TokenIds.Parse"/>).</summary>
    public static ITokenizer? Load(string modelDirectory)
    {
        string hf = Path.Combine(modelDirectory, HuggingFaceTokenizer.FileName);
        if (File.Exists(hf))
        {
            string config = Path.Combine(modelDirectory, "config.json");
            LlamaConfig? c = File.Exists(config) ? LlamaConfig.Load(config) : null;
            return HuggingFaceTokenizer.Load(hf, c?.BosTokenId, c?.EosTokenId);
        }
        string chars = Path.Combine(modelDirectory, CharTokenizer.FileName);
        return File.Exists(chars) ? CharTokenizer.Load(chars) : null;
    }
}
