using System;
using System.Collections.Generic;
using System.Globalization;

namespace MoeDsl.Runtime.Data;

/// <summary>Id-only mode: a model folder without a tokenizer is driven with token ids (e.g. <c>--prompt-ids "1 403 7"</c>).</summary>
public static class TokenIds
{
    private static readonly char[] Separators = { ' ', ',', '\t', '\n', '\r' };

    /// <summary>Parses ids separated by spaces and/or commas, each in [0, <paramref name="vocabSize"/>).
    /// <paramref name="option"/> names the source in errors (<see cref="ArgumentException"/>, whose message says what is
    /// wrong and the valid range).</summary>
    public static int[] Parse(string text, int vocabSize, string option = "--prompt-ids")
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabulary size must be positive");
        var ids = new List<int>();
        foreach (string part in text.Split(Separators, StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                throw new ArgumentException($"{option}: '{JsonlReader.Clip(part)}' is not a token id; give non-negative integers separated by spaces or commas");
            if (id >= vocabSize)
                throw new ArgumentException($"{option}: token id {id} is outside the vocabulary [0, {vocabSize})");
            ids.Add(id);
        }
        if (ids.Count == 0) throw new ArgumentException($"{option}: no token ids given");
        return ids.ToArray();
    }
}
