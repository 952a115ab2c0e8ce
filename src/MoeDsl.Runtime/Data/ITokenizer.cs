using System;
using System.Collections.Generic;

namespace MoeDsl.Runtime.Data;

/// <summary>Text to token ids and back. <see cref="Encode"/> adds no special tokens: the data layer adds BOS/EOS itself.
/// Implementations: <see cref="CharTokenizer"/> (the embedded tiny models), <see cref="HuggingFaceTokenizer"/> (a
/// checkpoint's tokenizer.json through Hugging Face's tokenizers library, Tokenizers.DotNet). A folder with neither is driven by token ids
/// (<see cref="TokenIds.Parse"/>); <see cref="Tokenizers.Load"/> returns null for it.</summary>
public interface ITokenizer
{
    /// <summary>What it is, for logs ("char (40 symbols)", "tokenizer.json BPE (byte-level)").</summary>
    string Description { get; }
    /// <summary>Number of ids (largest id + 1).</summary>
    int VocabSize { get; }
    /// <summary>Beginning-of-sequence id, if the vocabulary has one.</summary>
    int? BosId { get; }
    /// <summary>End-of-sequence id, if the vocabulary has one.</summary>
    int? EosId { get; }
    /// <summary>Padding id, if the vocabulary has one.</summary>
    int? PadId { get; }
    /// <summary>The ids of <paramref name="text"/>, without special tokens. Throws <see cref="ArgumentException"/> for
    /// text the vocabulary cannot represent (e.g. a character outside a <see cref="CharTokenizer"/>'s symbols).</summary>
    IReadOnlyList<int> Encode(string text);
    /// <summary>The text of <paramref name="ids"/>; special tokens are left out.</summary>
    string Decode(IEnumerable<int> ids);
}
