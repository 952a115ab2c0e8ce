using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
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

    /// <summary>Reads <c>config.json</c> of a checkpoint folder and checks its sizes against the tensor headers of the
    /// folder's weight files (<see cref="EnsureMatchesWeights"/>; headers only, no tensor data is read). Every path that
    /// builds a model on a checkpoint folder reads its config through this, so a config.json that claims more than the
    /// weights hold is refused before any module is allocated.</summary>
    public static LlamaConfig LoadMatchingWeights(string directory)
    {
        LlamaConfig config = Load(directory);
        using Checkpoint checkpoint = Checkpoint.Open(directory);
        config.EnsureMatchesWeights(checkpoint, Directory.Exists(directory) ? Path.Combine(directory, "config.json") : directory);
        return config;
    }

    /// <summary>Throws <see cref="ModelFormatException"/> naming <paramref name="configFile"/>, the field, its value and
    /// what the weights say when a size of this config is not what the tensor headers of <paramref name="checkpoint"/>
    /// hold: hidden_size (<c>model.embed_tokens.weight</c> [vocab, hidden], <c>model.norm.weight</c> [hidden]), vocab_size
    /// (<c>model.embed_tokens.weight</c>, <c>lm_head.weight</c>), num_hidden_layers (the <c>model.layers.N</c> indices
    /// present), intermediate_size (<c>mlp.gate_proj</c> [intermediate, hidden]) and num_attention_heads with
    /// num_key_value_heads (<c>self_attn.k_proj</c> [kv heads x hidden / heads, hidden]). A field is refused when no tensor
    /// that fixes it agrees with it; a single odd tensor among agreeing ones is left to the load, which names that
    /// tensor. Either way the model this config builds is no larger than the weights, so nothing larger is allocated.</summary>
    public void EnsureMatchesWeights(Checkpoint checkpoint, string configFile)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        string embedName = "model.embed_tokens.weight";
        long[] embed = Matrix(embedName) ?? throw Missing(embedName);
        long[]? norm = Shape("model.norm.weight");
        if (embed[1] != HiddenSize && !(norm is [long n] && n == HiddenSize))
            throw Differs("hidden_size", HiddenSize, $"{embedName} [{Join(embed)}]", $"set hidden_size to {embed[1]}");
        long[]? head = TieWordEmbeddings ? null : Matrix("lm_head.weight");
        if (embed[0] != VocabSize && !(head is not null && head[0] == VocabSize))
            throw Differs("vocab_size", VocabSize, $"{embedName} [{Join(embed)}]", $"set vocab_size to {embed[0]}");

        var present = new SortedSet<int>();
        foreach (string name in checkpoint.Names)
            if (LayerIndex(name) is int index) present.Add(index);
        if (present.Count == 0)
            throw Differs("num_hidden_layers", NumHiddenLayers, "no model.layers.N.* tensors", "the checkpoint holds no decoder layers; it is not a LLaMA checkpoint");
        bool contiguous = present.Count == present.Max + 1;
        // Layers beyond a contiguous 0..M-1 are the config's error; a stray index past a gap is a tensor the load names.
        if ((contiguous && present.Count != NumHiddenLayers) || present.GetViewBetween(0, NumHiddenLayers - 1).Count < NumHiddenLayers)
            throw Differs("num_hidden_layers", NumHiddenLayers, $"layers present {Ranges(present)} (model.layers.N.*)",
                contiguous ? $"set num_hidden_layers to {present.Count}" : "the layers must be numbered 0..N-1 without gaps; the weights are incomplete");

        var gates = Layers("mlp.gate_proj.weight");
        if (!gates.Any(g => g.Shape[0] == IntermediateSize))
            throw Differs("intermediate_size", IntermediateSize, $"{gates[0].Name} [{Join(gates[0].Shape)}]", $"set intermediate_size to {gates[0].Shape[0]}");

        var keys = Layers("self_attn.k_proj.weight");
        long keyRows = (long)NumKeyValueHeads * HeadDim;
        if (!keys.Any(k => k.Shape[0] == keyRows))
        {
            // The weights fix only kv heads x head dim (head dim = hidden / heads): say which head counts fit them.
            long rows = keys[0].Shape[0];
            var fits = new List<string>();
            long product = (long)HiddenSize * NumKeyValueHeads;
            long heads = rows > 0 && product % rows == 0 ? product / rows : 0;
            if (heads > 0 && HiddenSize % heads == 0 && heads % NumKeyValueHeads == 0 && HiddenSize / heads % 2 == 0)
                fits.Add($"num_attention_heads {heads} (with num_key_value_heads {NumKeyValueHeads})");
            long kv = rows % HeadDim == 0 ? rows / HeadDim : 0;
            if (kv > 0 && NumAttentionHeads % kv == 0)
                fits.Add($"num_key_value_heads {kv} (with num_attention_heads {NumAttentionHeads})");
            throw new ModelFormatException(configFile, "num_attention_heads",
                $"is {NumAttentionHeads} and num_key_value_heads {NumKeyValueHeads} in config.json, so {keys[0].Name} would be [{keyRows}, {HiddenSize}] "
                + $"({NumKeyValueHeads} kv heads x head dim {HeadDim}), but the weights say [{Join(keys[0].Shape)}]; "
                + (fits.Count > 0 ? "set " + string.Join(" or ", fits) : "fix num_attention_heads or num_key_value_heads"));
        }

        long[]? Shape(string tensor) => checkpoint.Contains(tensor) ? checkpoint.Entry(tensor).Shape : null;

        long[]? Matrix(string tensor)
        {
            long[]? shape = Shape(tensor);
            if (shape is not null && shape.Length != 2)
                throw new ModelFormatException(checkpoint.Directory, tensor, $"has shape [{Join(shape)}]; a LLaMA checkpoint stores it as a matrix");
            return shape;
        }

        // The tensor of every layer that has it (at least one must), in layer order.
        List<(string Name, long[] Shape)> Layers(string suffix)
        {
            var found = new List<(string, long[])>();
            for (int i = 0; i < NumHiddenLayers; i++)
                if (Matrix($"{LayerPrefix}{i}.{suffix}") is long[] shape) found.Add(($"{LayerPrefix}{i}.{suffix}", shape));
            return found.Count > 0 ? found : throw Missing($"{LayerPrefix}0.{suffix}");
        }

        ModelFormatException Missing(string tensor)
            => new(checkpoint.Directory, tensor, "is missing from the checkpoint; it is not a LLaMA checkpoint, or its weights are incomplete");

        ModelFormatException Differs(string field, int value, string weights, string fix)
            => new(configFile, field, $"is {value} in config.json but the weights say {weights}; {fix}");
    }

    /// <summary>N of a <c>model.layers.N.</c> tensor name, or null.</summary>
    private static int? LayerIndex(string name)
    {
        if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal)) return null;
        int dot = name.IndexOf('.', LayerPrefix.Length);
        return dot > LayerPrefix.Length
               && int.TryParse(name.AsSpan(LayerPrefix.Length, dot - LayerPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : null;
    }

    private const string LayerPrefix = "model.layers.";

    private static string Join(long[] shape) => string.Join(", ", shape);

    /// <summary>"0..4" for 0,1,2,3,4; "0..2, 4, 7..9" with gaps.</summary>
    private static string Ranges(SortedSet<int> values)
    {
        var parts = new List<string>();
        int? start = null, previous = null;
        foreach (int v in values)
        {
            if (previous is int p && v == p + 1) { previous = v; continue; }
            if (start is int s0) parts.Add(s0 == previous ? $"{s0}" : $"{s0}..{previous}");
            start = previous = v;
        }
        if (start is int s1) parts.Add(s1 == previous ? $"{s1}" : $"{s1}..{previous}");
        return string.Join(", ", parts);
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
