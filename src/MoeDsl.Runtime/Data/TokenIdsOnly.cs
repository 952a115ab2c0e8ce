using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace MoeDsl.Runtime.Data;

/// <summary>The stand-in tokenizer of a model folder without one (stories260K): it knows only the vocabulary size, so
/// pre-tokenized data (<see cref="DataLayout.TokenIds"/>) can be checked and trained; text cannot be encoded.</summary>
public sealed class TokenIdsOnly : ITokenizer
{
    /// <summary>Creates it for a model with <paramref name="vocabSize"/> ids.</summary>
    public TokenIdsOnly(int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        VocabSize = vocabSize;
    }

    /// <inheritdoc />
    public string Description => $"token ids only ({VocabSize} ids, no tokenizer)";
    /// <inheritdoc />
    public int VocabSize { get; }
    /// <inheritdoc />
    public int? BosId => null;
    /// <inheritdoc />
    public int? EosId => null;
    /// <inheritdoc />
    public int? PadId => null;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
        => throw new ArgumentException("the model folder has no tokenizer, so text cannot be encoded; give pre-tokenized data (--task tokens) or add the checkpoint's tokenizer.json", nameof(text));

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids) => string.Join(' ', ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Whether every file is pre-tokenized, so that a model without a tokenizer can train on them.</summary>
    public static bool Suffices(IEnumerable<DataFile> files) => files.All(f => f.Layout == DataLayout.TokenIds);
}
