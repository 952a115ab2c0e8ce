using System;
using System.IO;
using System.Text.Json;

namespace MoeDsl.Runtime.IO;

/// <summary>The fields of a Hugging Face <c>LlamaForCausalLM</c> config.json that the runtime uses.</summary>
public sealed record LlamaConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int VocabSize,
    double RmsNormEps = 1e-6,
    double RopeTheta = 10000.0,
    bool TieWordEmbeddings = false,
    int MaxPositionEmbeddings = 2048,
    int BosTokenId = 1,
    int EosTokenId = 2)
{
    /// <summary>Per-head size.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Architectures this runtime implements.</summary>
    public static readonly string[] SupportedArchitectures = { "LlamaForCausalLM", "MistralForCausalLM" };

    /// <summary>Values of <c>model_type</c> this runtime implements.</summary>
    public static readonly string[] SupportedModelTypes = { "llama", "mistral" };

    /// <summary>Largest config.json accepted.</summary>
    public const long MaxFileBytes = 10_000_000;

    /// <summary>Reads <c>config.json</c> from a checkpoint folder (or the file itself).</summary>
    public static LlamaConfig Load(string pathOrDirectory)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, "config.json") : pathOrDirectory;
        if (!File.Exists(path))
            throw new ModelFormatException(path, null, "config.json not found; pass a Hugging Face checkpoint folder that contains config.json");
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new ModelFormatException(path, null, $"is {length} bytes; a config.json larger than {MaxFileBytes} bytes is refused");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config.json text; <paramref name="fileName"/> names it in errors.</summary>
    public static LlamaConfig Parse(string json, string fileName) => Parse(System.Text.Encoding.UTF8.GetBytes(json), fileName);

    /// <summary>Parses config.json bytes (UTF-8, strict JSON, no property named twice); <paramref name="fileName"/> names
    /// it in errors. Refuses, naming the field: missing or mistyped required fields (hidden_size, intermediate_size,
    /// num_hidden_layers, num_attention_heads, vocab_size), mistyped optional ones, impossible shapes, and what the
    /// runtime does not implement: architectures other than <see cref="SupportedArchitectures"/>, model types other than
    /// <see cref="SupportedModelTypes"/>, rope scaling other than none/"default", activations other than silu, biases in
    /// attention or MLP, and a head_dim other than hidden_size / num_attention_heads.</summary>
    public static LlamaConfig Parse(byte[] utf8, string fileName)
    {
        using JsonDocument doc = JsonInput.Parse(utf8, fileName, null, "config");
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(fileName, null, "must be a JSON object");

        if (root.TryGetProperty("architectures", out JsonElement arch) && arch.ValueKind != JsonValueKind.Null)
        {
            if (arch.ValueKind != JsonValueKind.Array)
                throw new ModelFormatException(fileName, "architectures", $"must be an array of strings, got {JsonInput.Describe(arch)}");
            foreach (JsonElement a in arch.EnumerateArray())
            {
                string? name = a.ValueKind == JsonValueKind.String ? a.GetString() : null;
                if (name is null || Array.IndexOf(SupportedArchitectures, name) < 0)
                    throw new ModelFormatException(fileName, "architectures", $"architecture {JsonInput.Describe(a)} is not supported; supported: {string.Join(", ", SupportedArchitectures)}");
            }
        }
        if (root.TryGetProperty("model_type", out JsonElement modelType) && modelType.ValueKind != JsonValueKind.Null)
        {
            string? name = modelType.ValueKind == JsonValueKind.String ? modelType.GetString() : null;
            if (name is null || Array.IndexOf(SupportedModelTypes, name) < 0)
                throw new ModelFormatException(fileName, "model_type", $"model type {JsonInput.Describe(modelType)} is not supported; supported: {string.Join(", ", SupportedModelTypes)}");
        }
        if (root.TryGetProperty("rope_scaling", out JsonElement scaling) && scaling.ValueKind != JsonValueKind.Null)
        {
            if (scaling.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(fileName, "rope_scaling", $"must be null or an object, got {JsonInput.Describe(scaling)}");
            JsonElement type = scaling.TryGetProperty("rope_type", out JsonElement rt) ? rt : scaling.TryGetProperty("type", out JsonElement t2) ? t2 : default;
            if (type.ValueKind != JsonValueKind.String || type.GetString() != "default")
                throw new ModelFormatException(fileName, "rope_scaling", $"rope type {(type.ValueKind == JsonValueKind.Undefined ? "(none given)" : JsonInput.Describe(type))} is not supported; supported: default (or rope_scaling null)");
        }
        if (root.TryGetProperty("hidden_act", out JsonElement act) && act.ValueKind != JsonValueKind.Null)
        {
            if (act.ValueKind != JsonValueKind.String || act.GetString() != "silu")
                throw new ModelFormatException(fileName, "hidden_act", $"activation {JsonInput.Describe(act)} is not supported; supported: silu");
        }
        foreach (string bias in new[] { "attention_bias", "mlp_bias" })
        {
            if (OptionalBool(root, bias, fileName) == true)
                throw new ModelFormatException(fileName, bias, "is true, but the runtime implements LLaMA projections without bias; supported: false");
        }

        int hidden = RequiredInt(root, "hidden_size", fileName);
        int inter = RequiredInt(root, "intermediate_size", fileName);
        int layers = RequiredInt(root, "num_hidden_layers", fileName);
        int heads = RequiredInt(root, "num_attention_heads", fileName);
        int kv = OptionalInt(root, "num_key_value_heads", fileName) ?? heads;
        int vocab = RequiredInt(root, "vocab_size", fileName);
        var config = new LlamaConfig(
            hidden, inter, layers, heads, kv, vocab,
            OptionalDouble(root, "rms_norm_eps", fileName) ?? 1e-6,
            OptionalDouble(root, "rope_theta", fileName) ?? 10000.0,
            OptionalBool(root, "tie_word_embeddings", fileName) ?? false,
            OptionalInt(root, "max_position_embeddings", fileName) ?? 2048,
            OptionalInt(root, "bos_token_id", fileName) ?? 1,
            OptionalIntOrFirst(root, "eos_token_id", fileName) ?? 2);
        config.Validate(fileName);
        if (OptionalInt(root, "head_dim", fileName) is int headDim && headDim != config.HeadDim)
            throw new ModelFormatException(fileName, "head_dim", $"is {headDim} but hidden_size / num_attention_heads is {config.HeadDim}; only head_dim = hidden_size / num_attention_heads is supported");
        return config;
    }

    /// <summary>Throws <see cref="ModelFormatException"/> when the shape is impossible.</summary>
    public void Validate(string fileName)
    {
        Positive(HiddenSize, "hidden_size"); Positive(IntermediateSize, "intermediate_size"); Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads"); Positive(NumKeyValueHeads, "num_key_value_heads"); Positive(VocabSize, "vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ModelFormatException(fileName, "hidden_size", $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelFormatException(fileName, "num_key_value_heads", $"num_attention_heads {NumAttentionHeads} is not divisible by num_key_value_heads {NumKeyValueHeads}");
        if (HeadDim % 2 != 0)
            throw new ModelFormatException(fileName, "hidden_size", $"head dimension {HeadDim} must be even for rotary embeddings");
        if (!(RmsNormEps > 0) || double.IsInfinity(RmsNormEps)) throw new ModelFormatException(fileName, "rms_norm_eps", $"must be a positive number, got {RmsNormEps}");
        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta)) throw new ModelFormatException(fileName, "rope_theta", $"must be a positive number, got {RopeTheta}");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (BosTokenId < 0 || BosTokenId >= VocabSize) throw new ModelFormatException(fileName, "bos_token_id", $"is {BosTokenId} but must be a token id in [0, {VocabSize}) (vocab_size {VocabSize})");
        if (EosTokenId < 0 || EosTokenId >= VocabSize) throw new ModelFormatException(fileName, "eos_token_id", $"is {EosTokenId} but must be a token id in [0, {VocabSize}) (vocab_size {VocabSize})");
        if ((long)HiddenSize * VocabSize > int.MaxValue)
            throw new ModelFormatException(fileName, "vocab_size", $"vocab_size {VocabSize} x hidden_size {HiddenSize} exceeds {int.MaxValue} embedding elements; this is not a model this runtime can hold");
        void Positive(int v, string field)
        {
            if (v <= 0) throw new ModelFormatException(fileName, field, $"must be a positive integer, got {v}");
        }
    }

    /// <summary>Writes this config as a Hugging Face config.json.</summary>
    public string ToJson()
    {
        var o = new System.Text.Json.Nodes.JsonObject
        {
            ["architectures"] = new System.Text.Json.Nodes.JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenId,
            ["torch_dtype"] = "float32",
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static int RequiredInt(JsonElement root, string name, string file)
        => OptionalInt(root, name, file) ?? throw new ModelFormatException(file, name, "is missing; a LLaMA config.json must give it as an integer");

    private static int? OptionalInt(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
            throw new ModelFormatException(file, name, $"must be an integer, got {JsonInput.Describe(e)}");
        return v;
    }

    private static int? OptionalIntOrFirst(JsonElement root, string name, string file)
    {
        // Some checkpoints (e.g. LLaMA-3 instruct) list several end-of-sequence ids; the first is used for generation.
        if (root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.Array)
        {
            if (e.GetArrayLength() == 0 || e[0].ValueKind != JsonValueKind.Number || !e[0].TryGetInt32(out int first))
                throw new ModelFormatException(file, name, $"must be an integer or a non-empty array of integers, got {JsonInput.Describe(e)}");
            foreach (JsonElement x in e.EnumerateArray())
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out _))
                    throw new ModelFormatException(file, name, $"must be an integer or a non-empty array of integers, got {JsonInput.Describe(e)}");
            return first;
        }
        return OptionalInt(root, name, file);
    }

    private static double? OptionalDouble(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v))
            throw new ModelFormatException(file, name, $"must be a number, got {JsonInput.Describe(e)}");
        return v;
    }

    private static bool? OptionalBool(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.True && e.ValueKind != JsonValueKind.False)
            throw new ModelFormatException(file, name, $"must be true or false, got {JsonInput.Describe(e)}");
        return e.GetBoolean();
    }

}
