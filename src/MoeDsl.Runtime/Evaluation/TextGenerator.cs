using System;
using System.Collections.Generic;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Evaluation;

/// <summary>Options of <see cref="TextGenerator.Generate"/>.</summary>
/// <param name="MaxNewTokens">Tokens to add.</param>
/// <param name="Temperature">0 = greedy (argmax); otherwise logits / temperature are sampled.</param>
/// <param name="TopK">Sample among the k most likely tokens (0 = all).</param>
/// <param name="Seed">Seed of the sampling generator.</param>
/// <param name="StopAtEos">Stop after the end-of-sequence token.</param>
public sealed record GenerationOptions(int MaxNewTokens = 64, double Temperature = 0, int TopK = 0, long Seed = 0, bool StopAtEos = false);

/// <summary>Autoregressive decoding with a KV cache: one forward over the prompt, then one token per forward.</summary>
public static class TextGenerator
{
    /// <summary>Generates new token ids after <paramref name="prompt"/> (not included in the result).</summary>
    public static IReadOnlyList<long> Generate(MoeCausalLM model, IReadOnlyList<long> prompt, GenerationOptions options)
    {
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
                using CausalLMOutput output = model.Forward(ids, cache);
                Tensor last = output.Logits.select(1, -1).squeeze(0).to(ScalarType.Float32);   // [V]
                long token = options.Temperature <= 0 ? last.argmax().item<long>() : Sample(last, options, rng);
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

    private static long Sample(Tensor logits, GenerationOptions options, Generator rng)
    {
        Tensor scaled = logits / options.Temperature;
        if (options.TopK > 0 && options.TopK < scaled.shape[0])
        {
            var (values, _) = scaled.topk(options.TopK);
            scaled = scaled.masked_fill(scaled.lt(values[-1]), double.NegativeInfinity);
        }
        return multinomial(scaled.softmax(-1), 1, generator: rng).item<long>();
    }
}
