using System;
using System.Collections.Generic;
using System.Text;

namespace MoeDsl.Fuzz;

/// <summary>Seeded structure-unaware and JSON-aware mutations: bit flips, byte inserts/deletes, truncation, chunk
/// duplication and crossover (splicing fields within and across inputs), numbers replaced by edge values, strings
/// replaced by field names and dtypes the readers know, and (for safetensors) edited length prefixes.
/// The same seed gives the same inputs.</summary>
public sealed class Mutator
{
    private static readonly string[] EdgeNumbers =
    {
        "0", "-1", "1", "2", "7", "8", "255", "256", "65535", "2147483647", "2147483648", "-2147483648", "4294967296",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551616", "1e308", "-1e308",
        "1e-320", "0.5", "-0", "1E2", "99999999999999999999999999", "NaN", "Infinity", "true", "null", "\"1\"", "[]", "{}",
    };

    private static readonly string[] Words =
    {
        "dtype", "shape", "data_offsets", "__metadata__", "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3",
        "weight_map", "model.safetensors", "../x.safetensors", "/etc/passwd", "a.bin", "hidden_size", "num_attention_heads",
        "num_key_value_heads", "intermediate_size", "vocab_size", "architectures", "rope_scaling", "rope_type", "llama3",
        "hidden_act", "gelu", "LlamaForCausalLM", "text", "prompt", "completion", "question", "choices", "answer", "label",
        "answerKey", "endings", "option1", "A", "Z", "1", "0", "", "\u2581", "\uFFFD", "\\u0000", "\\ud800",
    };

    private static readonly byte[] InterestingBytes = "{}[]\",:0-9e.\\ \n\r\tnft"u8.ToArray();

    private readonly Random rng;

    public Mutator(int seed) => rng = new Random(seed);

    public int Next(int max) => rng.Next(max);

    /// <summary>A mutant of <paramref name="input"/>: 1 to 4 stacked mutations; <paramref name="donor"/> feeds crossover.</summary>
    public byte[] Mutate(byte[] input, byte[] donor, bool lengthPrefixed)
    {
        var data = new List<byte>(input);
        int rounds = 1 + rng.Next(4);
        for (int r = 0; r < rounds; r++)
        {
            switch (rng.Next(lengthPrefixed ? 11 : 10))
            {
                case 0: FlipBits(data); break;
                case 1: InsertBytes(data); break;
                case 2: DeleteBytes(data); break;
                case 3: Truncate(data); break;
                case 4: DuplicateChunk(data); break;
                case 5: Crossover(data, donor); break;
                case 6: case 7: ReplaceNumber(data); break;
                case 8: case 9: ReplaceString(data); break;
                default: EditLengthPrefix(data); break;
            }
        }
        return data.ToArray();
    }

    private void FlipBits(List<byte> d)
    {
        if (d.Count == 0) return;
        int n = 1 + rng.Next(8);
        for (int i = 0; i < n; i++)
        {
            int at = rng.Next(d.Count);
            d[at] ^= (byte)(1 << rng.Next(8));
        }
    }

    private void InsertBytes(List<byte> d)
    {
        int at = rng.Next(d.Count + 1);
        int n = 1 + rng.Next(4);
        for (int i = 0; i < n; i++)
            d.Insert(at, rng.Next(3) == 0 ? (byte)rng.Next(256) : rng.Next(4) == 0 ? (byte)(0x80 + rng.Next(0x80)) : InterestingBytes[rng.Next(InterestingBytes.Length)]);
    }

    private void DeleteBytes(List<byte> d)
    {
        if (d.Count == 0) return;
        int at = rng.Next(d.Count);
        d.RemoveRange(at, Math.Min(d.Count - at, 1 + rng.Next(rng.Next(2) == 0 ? 4 : 64)));
    }

    private void Truncate(List<byte> d)
    {
        if (d.Count == 0) return;
        int keep = rng.Next(d.Count);
        d.RemoveRange(keep, d.Count - keep);
    }

    private void DuplicateChunk(List<byte> d)
    {
        if (d.Count < 2) return;
        int from = rng.Next(d.Count);
        int len = 1 + rng.Next(Math.Min(128, d.Count - from));
        var chunk = d.GetRange(from, len);
        d.InsertRange(rng.Next(d.Count + 1), chunk);
    }

    private void Crossover(List<byte> d, byte[] donor)
    {
        if (donor.Length == 0 || d.Count == 0) return;
        int from = rng.Next(donor.Length);
        int len = 1 + rng.Next(Math.Min(256, donor.Length - from));
        int at = rng.Next(d.Count);
        int remove = Math.Min(d.Count - at, rng.Next(len + 1));
        d.RemoveRange(at, remove);
        d.InsertRange(at, new ArraySegment<byte>(donor, from, len));
    }

    private void ReplaceNumber(List<byte> d)
    {
        var spans = Find(d, b => b is (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+', requireDigit: true);
        if (spans.Count == 0) { InsertBytes(d); return; }
        var (start, length) = spans[rng.Next(spans.Count)];
        d.RemoveRange(start, length);
        d.InsertRange(start, Encoding.UTF8.GetBytes(EdgeNumbers[rng.Next(EdgeNumbers.Length)]));
    }

    private void ReplaceString(List<byte> d)
    {
        // Contents of "..." tokens (quote to quote, no escapes considered).
        var quotes = new List<int>();
        for (int i = 0; i < d.Count; i++) if (d[i] == (byte)'"') quotes.Add(i);
        if (quotes.Count < 2) { InsertBytes(d); return; }
        int q = rng.Next(quotes.Count - 1);
        int start = quotes[q] + 1, end = quotes[q + 1];
        d.RemoveRange(start, end - start);
        d.InsertRange(start, Encoding.UTF8.GetBytes(Words[rng.Next(Words.Length)]));
    }

    private void EditLengthPrefix(List<byte> d)
    {
        if (d.Count < 8) return;
        ulong current = BitConverter.ToUInt64(d.GetRange(0, 8).ToArray());
        ulong[] choices = { 0, 1, 2, current - 1, current + 1, current + 8, (ulong)d.Count, (ulong)d.Count - 8, (ulong)d.Count - 7, 100_000_000, 100_000_001, uint.MaxValue, long.MaxValue, ulong.MaxValue };
        byte[] b = BitConverter.GetBytes(choices[rng.Next(choices.Length)]);
        for (int i = 0; i < 8; i++) d[i] = b[i];
    }

    private static List<(int Start, int Length)> Find(List<byte> d, Func<byte, bool> inToken, bool requireDigit)
    {
        var spans = new List<(int, int)>();
        int i = 0;
        while (i < d.Count)
        {
            if (!inToken(d[i])) { i++; continue; }
            int s = i;
            bool digit = false;
            while (i < d.Count && inToken(d[i])) { digit |= d[i] is >= (byte)'0' and <= (byte)'9'; i++; }
            if (!requireDigit || digit) spans.Add((s, i - s));
        }
        return spans;
    }
}
