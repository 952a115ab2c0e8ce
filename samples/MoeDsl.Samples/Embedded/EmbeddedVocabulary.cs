using System;
using System.Collections.Generic;
using System.Text;
using MoeDsl.Runtime.Data;

namespace MoeDsl.Samples.Embedded;

/// <summary>The character vocabulary of the project's embedded tiny base: PAD = 0, BOS = 1, EOS = 2, then one id per
/// character. Fixed, so the cached base and every declaration built for it agree (vocab size <see cref="Size"/>).</summary>
public static class EmbeddedVocabulary
{
    /// <summary>Padding id.</summary>
    public const int Pad = 0;
    /// <summary>Beginning of sequence.</summary>
    public const int Bos = 1;
    /// <summary>End of sequence.</summary>
    public const int Eos = 2;
    /// <summary>Vocabulary size (ids 0..63).</summary>
    public const int Size = 64;

    private const string Characters = " abcdefghijklmnopqrstuvwxyz0123456789.,:;?!+-=>()ABCDE\n'";
    private static readonly Dictionary<char, int> ids = Build();

    private static Dictionary<char, int> Build()
    {
        if (Characters.Length + 3 > Size) throw new InvalidOperationException("embedded vocabulary overflow");
        var d = new Dictionary<char, int>();
        for (int i = 0; i < Characters.Length; i++) d.Add(Characters[i], i + 3);
        return d;
    }

    /// <summary>Ids of a text (no BOS/EOS). Throws on a character outside the vocabulary, naming it.</summary>
    public static long[] Encode(string text)
    {
        var result = new long[text.Length];
        for (int i = 0; i < text.Length; i++)
            result[i] = ids.TryGetValue(text[i], out int id) ? id : throw new ArgumentException($"character '{text[i]}' (U+{(int)text[i]:X4}) is not in the embedded vocabulary");
        return result;
    }

    /// <summary>The same vocabulary as a <see cref="CharTokenizer"/> (written beside the cached base as char_tokenizer.json).</summary>
    public static CharTokenizer Tokenizer() => new(Characters);

    /// <summary>Text of ids; special ids are dropped.</summary>
    public static string Decode(IEnumerable<long> tokens)
    {
        var sb = new StringBuilder();
        foreach (long t in tokens)
            if (t >= 3 && t - 3 < Characters.Length) sb.Append(Characters[(int)t - 3]);
        return sb.ToString();
    }
}
