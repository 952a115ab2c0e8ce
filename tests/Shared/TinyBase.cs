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
        using (var g = new Generator(7))
        {
            random.manual_seed(7);
            using var model = PlainCausalLM.Create(Config);
            File.WriteAllText(Path.Combine(dir, "config.json"), Config.ToJson());
            SafeTensorsWriter.Save(Path.Combine(dir, "model.safetensors"), model.BaseParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Parameter)));
        }
        string symbols = EmbeddedVocabulary.Decode(Enumerable.Range(CharTokenizer.FirstSymbolId, EmbeddedVocabulary.Size - CharTokenizer.FirstSymbolId).Select(i => (long)i));
        new CharTokenizer(symbols).Save(dir);
        return dir;
    }
}
