using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Checkpoints;

/// <summary>Writes a Hugging Face checkpoint folder (config.json + model.safetensors, or shards with
/// model.safetensors.index.json) with deterministic random weights: every value comes from a SplitMix64 stream seeded by
/// the seed and the tensor's name, so the same arguments give the same bytes on every machine and .NET version.
/// Tensor names and shapes are the runtime's own (a frozen base built for the config), fused back into the family's
/// checkpoint layout (Phi-3's <c>qkv_proj</c>, <c>gate_up_proj</c>).</summary>
public static class CheckpointWriter
{
    /// <summary>Writes the checkpoint of <paramref name="config"/> into <paramref name="directory"/>.
    /// <paramref name="dtype"/>: Float32, BFloat16 or Float16. <paramref name="shards"/> &gt; 1 writes that many shards and
    /// an index. <paramref name="tiedEmbeddingScale"/> multiplies tied embeddings (see <see cref="Values"/>).</summary>
    public static void Write(LlamaConfig config, string directory, ulong seed = 1, ScalarType dtype = ScalarType.Float32, int shards = 1, float tiedEmbeddingScale = 0.1f)
    {
        ArgumentNullException.ThrowIfNull(config);
        Directory.CreateDirectory(directory);
        var shapes = TensorShapes(config);
        var groups = Enumerable.Range(0, Math.Max(1, shards)).Select(_ => new List<string>()).ToList();
        for (int i = 0; i < shapes.Count; i++) groups[i * groups.Count / shapes.Count].Add(shapes[i].Name);
        var weightMap = new JsonObject();
        for (int s = 0; s < groups.Count; s++)
        {
            string file = groups.Count == 1 ? "model.safetensors" : $"model-{s + 1:D5}-of-{groups.Count:D5}.safetensors";
            var tensors = new List<KeyValuePair<string, Tensor>>();
            try
            {
                foreach (string name in groups[s])
                {
                    long[] shape = shapes.First(x => x.Name == name).Shape;
                    tensors.Add(KeyValuePair.Create(name, Values(config, name, shape, seed, dtype, tiedEmbeddingScale)));
                    weightMap[name] = file;
                }
                SafeTensorsWriter.Save(Path.Combine(directory, file), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            }
            finally
            {
                foreach (var t in tensors) t.Value.Dispose();
            }
        }
        if (groups.Count > 1)
            File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"),
                new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = weightMap }.ToJsonString());
        string json = config.ToJson();
        if (dtype != ScalarType.Float32)
            json = json.Replace("\"float32\"", dtype == ScalarType.BFloat16 ? "\"bfloat16\"" : "\"float16\"", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(directory, "config.json"), json);
    }

    /// <summary>The checkpoint's tensor names and shapes in the family's layout, in the runtime's parameter order.</summary>
    public static List<(string Name, long[] Shape)> TensorShapes(LlamaConfig config)
    {
        using var scope = NewDisposeScope();
        using var model = PlainCausalLM.Create(config);
        var list = model.BaseParameters().Select(p => (p.Name, p.Parameter.shape)).ToList();
        foreach (FusedTensor fused in FusedTensor.Of(config))
        {
            int first = list.FindIndex(x => x.Name == fused.Parts[0].Part);
            long inFeatures = list[first].shape[1];
            list.RemoveAll(x => fused.Parts.Any(p => p.Part == x.Name));
            list.Insert(first, (fused.Name, new[] { fused.Rows, inFeatures }));
        }
        return list;
    }

    /// <summary>The values of one tensor: norms 1 + u / 4 (Gemma's (1 + w) style: u / 4), biases u / 4, embeddings u
    /// (Gemma: u / sqrt(hidden), since it multiplies them by sqrt(hidden); tied: times <paramref name="tiedScale"/>, by
    /// default a tenth, so the residual stream is not dominated by the input token's own row of the head, which makes
    /// greedy decoding echo it; training tests take 1, since tiny tied rows also cap the logits), matrices
    /// 2.5 u / sqrt(in) (large enough that greedy decoding of the tiny models wanders instead of repeating one token),
    /// u uniform in [-1, 1).</summary>
    private static Tensor Values(LlamaConfig config, string name, long[] shape, ulong seed, ScalarType dtype, float tiedScale)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new float[count];
        ulong state = seed * 0x9E3779B97F4A7C15UL ^ Fnv(name);
        bool norm = name.EndsWith("norm.weight", StringComparison.Ordinal);
        bool embedding = name == "model.embed_tokens.weight";
        float scale = norm || name.EndsWith(".bias", StringComparison.Ordinal) ? 0.25f
            : embedding ? (config.Family.ScaleEmbeddings ? 1f / MathF.Sqrt(config.HiddenSize) : 1f) * (config.TieWordEmbeddings ? tiedScale : 1f)
            : 2.5f / MathF.Sqrt(shape[^1]);
        float offset = norm && config.Family.Norm == NormStyle.Weight ? 1f : 0f;
        for (long i = 0; i < count; i++) data[i] = offset + scale * Uniform(ref state);
        using Tensor t = tensor(data, shape);
        return t.to(dtype);
    }

    private static float Uniform(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (float)((z >> 40) * (1.0 / (1UL << 24)) * 2.0 - 1.0);
    }

    private static ulong Fnv(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) h = (h ^ c) * 1099511628211UL;
        return h;
    }
}
