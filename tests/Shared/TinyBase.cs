using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Samples.Embedded;
using static TorchSharp.torch;

namespace MoeDsl.Tests;

/// <summary>A tiny random LLaMA checkpoint folder (4 layers, hidden 32, the embedded 64-id character vocabulary with its
/// char_tokenizer.json), written once per test process: the CLI and the training loop run on it in seconds.</summary>
internal static class TinyBase
{
    public static readonly LlamaConfig Config = new(HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 4, NumAttentionHeads: 2, NumKeyValueHeads: 1,
        VocabSize: EmbeddedVocabulary.Size, RmsNormEps: 1e-5, MaxPositionEmbeddings: 256, BosTokenId: EmbeddedVocabulary.Bos, EosTokenId: EmbeddedVocabulary.Eos);

    private static readonly Lazy<string> folder = new(Create);

    public static string Directory => folder.Value;

    private static string Create()
    {
        string dir = Path.Combine(Path.GetTempPath(), "moedsl-tinybase-" + Environment.ProcessId);
        if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, true);
        System.IO.Directory.CreateDirectory(dir);
        // The first use happens inside whatever test touches Directory first, often right after that test seeded the
        // global generator: the creation's own seed and draws must not leak into it (a test that seeds, then opens the
        // tiny base, would otherwise train differently when it is the process's first user of the base).
        using (Tensor callersState = random.get_rng_state())
        {
            random.manual_seed(7);
            using (var model = PlainCausalLM.Create(Config))
            {
                File.WriteAllText(Path.Combine(dir, "config.json"), Config.ToJson());
                SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), model.BaseParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)));
            }
            random.set_rng_state(callersState);
        }
        string symbols = EmbeddedVocabulary.Decode(Enumerable.Range(CharTokenizer.FirstSymbolId, EmbeddedVocabulary.Size - CharTokenizer.FirstSymbolId).Select(i => (long)i));
        new CharTokenizer(symbols).Save(dir);
        return dir;
    }
}
