using System;
using System.Globalization;
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

    /// <summary>Reads <c>config.json</c> from a checkpoint folder (or the file itself).</summary>
    public static LlamaConfig Load(string pathOrDirectory)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, "config.json") : pathOrDirectory;
        if (!File.Exists(path))
            throw new ModelFormatException(path, null, "config.json not found; pass a Hugging Face checkpoint folder that contains config.json");
        string text = File.ReadAllText(path);
        return Parse(text, path);
    }

    /// <summary>Parses config.json text; <paramref name="fileName"/> names it in errors.</summary>
    public static LlamaConfig Parse(string json, string fileName)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64 }); }
        catch (JsonException e) { throw new ModelFormatException(fileName, null, $"is not valid JSON ({e.Message})"); }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(fileName, null, "must be a JSON object");

            if (root.TryGetProperty("architectures", out JsonElement arch) && arch.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement a in arch.EnumerateArray())
                {
                    string? name = a.ValueKind == JsonValueKind.String ? a.GetString() : null;
                    if (name is null || Array.IndexOf(SupportedArchitectures, name) < 0)
                        throw new ModelFormatException(fileName, "architectures", $"architecture '{a}' is not supported; supported: {string.Join(", ", SupportedArchitectures)}");
                }
            }
            if (root.TryGetProperty("rope_scaling", out JsonElement scaling) && scaling.ValueKind == JsonValueKind.Object)
            {
                string type = scaling.TryGetProperty("rope_type", out JsonElement rt) ? rt.ToString() : scaling.TryGetProperty("type", out JsonElement t2) ? t2.ToString() : "?";
                if (type != "default")
                    throw new ModelFormatException(fileName, "rope_scaling", $"rope type '{type}' is not supported; supported: default (rope_scaling null)");
            }
            if (root.TryGetProperty("hidden_act", out JsonElement act) && act.ValueKind == JsonValueKind.String && act.GetString() != "silu")
                throw new ModelFormatException(fileName, "hidden_act", $"activation '{act.GetString()}' is not supported; supported: silu");

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
                OptionalInt(root, "eos_token_id", fileName) ?? 2);
            config.Validate(fileName);
            return config;
        }
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
            throw new ModelFormatException(file, name, $"must be an integer, got {Describe(e)}");
        return v;
    }

    private static double? OptionalDouble(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v))
            throw new ModelFormatException(file, name, $"must be a number, got {Describe(e)}");
        return v;
    }

    private static bool? OptionalBool(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.True && e.ValueKind != JsonValueKind.False)
            throw new ModelFormatException(file, name, $"must be true or false, got {Describe(e)}");
        return e.GetBoolean();
    }

    private static string Describe(JsonElement e)
    {
        string raw = e.GetRawText();
        if (raw.Length > 40) raw = raw.Substring(0, 40) + "...";
        return $"{e.ValueKind.ToString().ToLower(CultureInfo.InvariantCulture)} {raw}";
    }
}
