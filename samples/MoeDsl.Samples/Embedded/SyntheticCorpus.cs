using System;
using System.Collections.Generic;
using System.Text;

namespace MoeDsl.Samples.Embedded;

/// <summary>The text the embedded base is pre-trained on: sentences from a small grammar, number facts and spelled-out
/// words, generated from a seed. It teaches characters, words and digits — not the fine-tuning tasks.</summary>
public static class SyntheticCorpus
{
    internal static readonly string[] Nouns = { "cat", "dog", "bird", "fish", "tree", "house", "river", "stone", "cloud", "apple", "garden", "window", "lamp", "boat", "hill", "road" };
    private static readonly string[] Verbs = { "sees", "likes", "finds", "holds", "draws", "wants", "moves", "counts" };
    internal static readonly string[] Adjectives = { "red", "big", "small", "old", "green", "quiet", "happy", "cold" };

    /// <summary>One line of the corpus.</summary>
    public static string Line(Random rng)
    {
        switch (rng.Next(4))
        {
            case 0:
                return $"the {Pick(rng, Adjectives)} {Pick(rng, Nouns)} {Pick(rng, Verbs)} a {Pick(rng, Nouns)}.";
            case 1:
            {
                int a = rng.Next(10), b = rng.Next(10);
                return $"{a} and {b} make {a + b}. {a} is {(a > b ? "more" : a < b ? "less" : "same")} than {b}.";
            }
            case 2:
            {
                string w = Pick(rng, Nouns);
                var sb = new StringBuilder(w).Append(" is spelled");
                foreach (char c in w) sb.Append(' ').Append(c);
                return sb.Append('.').ToString();
            }
            default:
            {
                int start = rng.Next(20);
                var sb = new StringBuilder("count:");
                for (int i = 0; i < 5; i++) sb.Append(' ').Append(start + i);
                return sb.Append('.').ToString();
            }
        }
    }

    /// <summary>A training sequence of about <paramref name="length"/> ids: BOS then lines separated by newlines.</summary>
    public static long[] Sequence(Random rng, int length)
    {
        var ids = new List<long>(length) { EmbeddedVocabulary.Bos };
        while (ids.Count < length)
        {
            foreach (long id in EmbeddedVocabulary.Encode(Line(rng) + "\n"))
            {
                if (ids.Count == length) break;
                ids.Add(id);
            }
        }
        return ids.ToArray();
    }

    private static string Pick(Random rng, string[] items) => items[rng.Next(items.Length)];
}
