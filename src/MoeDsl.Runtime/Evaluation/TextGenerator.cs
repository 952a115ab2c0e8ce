using System;
using System.Collections.Generic;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Evaluation;

/// <summary>Options of <see cref="TextGenerator.Generate"/>.</summary>
/// <param name="MaxNewTokens">Tokens to add.</param>
/// <param name="Temperature">Tokens are drawn from softmax(logits / T). T at or below
/// <see cref="TextGenerator.GreedyTemperature"/> (0 included) is greedy: the argmax, the limit of that distribution as
/// T -> 0, with the seed unused. Must be finite and >= 0.</param>
/// <param name="TopK">Sample among the k most likely tokens (0 = all).</param>
/// <param name="Seed">Seed of the sampling generator.</param>
/// <param name="StopAtEos">Stop after the end-of-sequence token.</param>
public sealed record GenerationOptions(int MaxNewTokens = 64, double Temperature = 0, int TopK = 0, long Seed = 0, bool StopAtEos = false);

/// <summary>Autoregressive decoding with a KV cache: one forward over the prompt, then one token per forward.</summary>
public static class TextGenerator
{
    /// <summary>Temperatures at or below this are decoded greedily, by definition: the limit of softmax(logits / T) as
    /// T -> 0 is the argmax, and at such temperatures only tokens whose logit lies within T * 745 of the largest (beyond
    /// that the float64 exp underflows to 0) could still be drawn. Above it, sampling uses float64 weights
    /// exp((logit - max logit) / T), finite for every T &gt; 0 (exponents &lt;= 0, the largest weight exactly 1).</summary>
    public const double GreedyTemperature = 1e-6;

    /// <summary>Generates new token ids after <paramref name="prompt"/> (not included in the result).</summary>
    public static IReadOnlyList<long> Generate(MoeCausalLM model, IReadOnlyList<long> prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.Temperature >= 0) || double.IsInfinity(options.Temperature))
            throw new ArgumentOutOfRangeException(nameof(options), options.Temperature, "temperature must be a finite number >= 0 (0 = greedy)");
        if (options.TopK < 0) throw new ArgumentOutOfRangeException(nameof(options), options.TopK, "top-k must be >= 0 (0 = all tokens)");
        if (options.MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), options.MaxNewTokens, "max new tokens must be >= 0");
        if (prompt.Count == 0) throw new ArgumentException("the prompt must hold at least one token id (e.g. BOS)", nameof(prompt));
        foreach (long id in prompt)
            if (id < 0 || id >= model.Config.VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary [0, {model.Config.VocabSize})", nameof(prompt));

        bool wasTraining = model.training;
        model.eval();
        var result = new List<long>(options.MaxNewTokens);
        Device device = model.Model.EmbedWeight.device;
        using var cache = new KvCache(model.Config.NumHiddenLayers);
        using var noGrad = no_grad();
        using var rng = new Generator((ulong)options.Seed, device);
        try
        {
            long[] next = new long[prompt.Count];
            for (int i = 0; i < prompt.Count; i++) next[i] = prompt[i];
            for (int step = 0; step < options.MaxNewTokens; step++)
            {
                using var scope = NewDisposeScope();
                Tensor ids = tensor(next, dtype: ScalarType.Int64, device: device).unsqueeze(0);
                using CausalLMOutput output = model.Forward(ids, cache, lastPositionOnly: true);
                Tensor last = output.Logits.select(1, -1).squeeze(0).to(ScalarType.Float64);   // [V]
                if (!last.isfinite().all().item<bool>())
                    throw new InvalidOperationException($"the model produced non-finite logits at generated token {step + 1}; its weights or the adapter hold inf or NaN");
                long token = options.Temperature <= GreedyTemperature ? last.argmax().item<long>() : Sample(last, options, rng);
                result.Add(token);
                if (options.StopAtEos && token == model.Config.EosTokenId) break;
                next = new[] { token };
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return result;
    }

    // Weights exp((l - max l) / T) in float64: every exponent is <= 0 (or -inf after the top-k cut), so each weight is in
    // [0, 1] and the largest is exactly 1; multinomial takes unnormalised weights. No T > 0 yields inf or NaN here.
    private static long Sample(Tensor logits, GenerationOptions options, Generator rng)
    {
        Tensor shifted = (logits - logits.max()) / options.Temperature;
        if (options.TopK > 0 && options.TopK < shifted.shape[0])
        {
            var (values, _) = shifted.topk(options.TopK);
            shifted = shifted.masked_fill(shifted.lt(values[-1]), double.NegativeInfinity);
        }
        return multinomial(shifted.exp(), 1, generator: rng).item<long>();
    }
}
