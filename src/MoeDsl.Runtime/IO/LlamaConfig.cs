using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using MoeDsl.Runtime.BaseModel;

namespace MoeDsl.Runtime.IO;

/// <summary>The fields of a Hugging Face causal-LM config.json that the runtime uses, for every family in
/// <see cref="ModelFamily.All"/> (LLaMA, Mistral, Qwen2, Qwen3, Gemma, Gemma 2, Phi-3). The positional fields are the
/// shape every family has; the init-only ones say what a family or a config adds (their defaults are LLaMA's).</summary>
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
    /// <summary>The decoder family: what differs over the one decoder.</summary>
    public ModelFamily Family { get; init; } = ModelFamily.Llama;
    /// <summary>config.json <c>head_dim</c> when it is given (Qwen3, Gemma); null: hidden_size / num_attention_heads.</summary>
    public int? ExplicitHeadDim { get; init; }
    /// <summary>Per-head size: <see cref="ExplicitHeadDim"/> or hidden_size / num_attention_heads.</summary>
    public int HeadDim => ExplicitHeadDim ?? HiddenSize / NumAttentionHeads;
    /// <summary>num_attention_heads x head_dim: the width of q (and of o's input).</summary>
    public long QueryDim => (long)NumAttentionHeads * HeadDim;
    /// <summary>num_key_value_heads x head_dim: the width of k and v.</summary>
    public long KeyValueDim => (long)NumKeyValueHeads * HeadDim;
    /// <summary>The MLP's gate activation (<c>hidden_activation</c> or <c>hidden_act</c>).</summary>
    public Activation HiddenActivation { get; init; } = Activation.Silu;
    /// <summary>q, k and v carry a bias (Qwen2 always; LLaMA/Gemma/Qwen3 with <c>attention_bias</c>).</summary>
    public bool QkvBias { get; init; }
    /// <summary>o_proj carries a bias (<c>attention_bias</c>; never in Qwen2).</summary>
    public bool OutputBias { get; init; }
    /// <summary>Rotary scaling; null: none (rope_type "default").</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>The sliding-window size in tokens for the layers <see cref="IsSlidingLayer"/> selects; null: full attention
    /// everywhere. A token attends to itself and the <c>window - 1</c> tokens before it.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>Qwen2/Qwen3 <c>max_window_layers</c>: layers from this index on use the window.</summary>
    public int MaxWindowLayers { get; init; }
    /// <summary>Gemma 2 <c>attn_logit_softcapping</c>: attention scores become <c>c tanh(s / c)</c>; null: off.</summary>
    public double? AttentionSoftCap { get; init; }
    /// <summary>Gemma 2 <c>final_logit_softcapping</c>: logits become <c>c tanh(z / c)</c>; null: off.</summary>
    public double? FinalSoftCap { get; init; }
    /// <summary>Gemma 2 <c>query_pre_attn_scalar</c>: scores are scaled by its inverse square root instead of head_dim's;
    /// null: 1 / sqrt(head_dim).</summary>
    public double? QueryPreAttnScalar { get; init; }

    /// <summary>The factor on q k^T.</summary>
    public double AttentionScale => 1.0 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    /// <summary>Whether decoder layer <paramref name="layer"/> attends through the sliding window.</summary>
    public bool IsSlidingLayer(int layer) => SlidingWindow is not null && Family.SlidingWindow switch
    {
        SlidingWindowLayers.All => true,
        SlidingWindowLayers.Even => layer % 2 == 0,
        SlidingWindowLayers.FromMaxWindowLayers => layer >= MaxWindowLayers,
        _ => false,
    };

    /// <summary>The window of layer <paramref name="layer"/>, or null for full causal attention.</summary>
    public int? WindowOf(int layer) => IsSlidingLayer(layer) ? SlidingWindow : null;

    /// <summary>Architectures this runtime implements.</summary>
    public static string[] SupportedArchitectures => ModelFamily.All.Select(f => f.Architecture).ToArray();

    /// <summary>Values of <c>model_type</c> this runtime implements.</summary>
    public static string[] SupportedModelTypes => ModelFamily.All.Select(f => f.ModelType).ToArray();

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

        bool fused = Family.FusedProjections;
        var gates = Layers(fused ? "mlp.gate_up_proj.weight" : "mlp.gate_proj.weight");
        long gateRows = fused ? 2L * IntermediateSize : IntermediateSize;
        if (!gates.Any(g => g.Shape[0] == gateRows))
            throw Differs("intermediate_size", IntermediateSize, $"{gates[0].Name} [{Join(gates[0].Shape)}]", $"set intermediate_size to {(fused ? gates[0].Shape[0] / 2 : gates[0].Shape[0])}");

        if (fused)
        {
            var fusedQkv = Layers("self_attn.qkv_proj.weight");
            long rows = QueryDim + 2 * KeyValueDim;
            if (!fusedQkv.Any(k => k.Shape[0] == rows))
                throw new ModelFormatException(configFile, "num_attention_heads",
                    $"is {NumAttentionHeads} and num_key_value_heads {NumKeyValueHeads} (head dim {HeadDim}) in config.json, so {fusedQkv[0].Name} would have "
                    + $"{rows} rows (q {QueryDim} + k {KeyValueDim} + v {KeyValueDim}), but the weights say [{Join(fusedQkv[0].Shape)}]; fix num_attention_heads, num_key_value_heads or head_dim");
            return;
        }
        if (ExplicitHeadDim is not null)
        {
            var queries = Layers("self_attn.q_proj.weight");
            if (!queries.Any(q => q.Shape[0] == QueryDim))
                throw new ModelFormatException(configFile, "head_dim",
                    $"is {HeadDim} with num_attention_heads {NumAttentionHeads} in config.json, so {queries[0].Name} would have {QueryDim} rows, but the weights say [{Join(queries[0].Shape)}]; "
                    + $"fix head_dim or num_attention_heads");
        }
        var keys = Layers("self_attn.k_proj.weight");
        long keyRows = KeyValueDim;
        if (!keys.Any(k => k.Shape[0] == keyRows))
        {
            // The weights fix only kv heads x head dim: say which head counts fit them (head dim = hidden / heads unless explicit).
            long rows = keys[0].Shape[0];
            var fits = new List<string>();
            long product = (long)HiddenSize * NumKeyValueHeads;
            long heads = ExplicitHeadDim is null && rows > 0 && product % rows == 0 ? product / rows : 0;
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
    /// it in errors. The family comes from <c>model_type</c> (or <c>architectures</c>; neither: LLaMA), and the family
    /// decides what absent keys mean (<see cref="ModelFamily"/>). Refuses, naming the field: missing or mistyped required
    /// fields (hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size), mistyped optional ones,
    /// impossible or absurd sizes, and what the runtime does not implement: other architectures and model types, rope types
    /// other than default/linear/llama3 (LLaMA, Mistral), activations other than silu/gelu_pytorch_tanh/gelu, MLP biases,
    /// partial rotary factors, and sliding-window layouts other than the family's.</summary>
    public static LlamaConfig Parse(byte[] utf8, string fileName)
    {
        using JsonDocument doc = JsonInput.Parse(utf8, fileName, null, "config");
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(fileName, null, "must be a JSON object");
        ModelFamily family = ReadFamily(root, fileName);

        if (OptionalBool(root, "mlp_bias", fileName) == true)
            throw new ModelFormatException(fileName, "mlp_bias", "is true, but the runtime implements MLP projections without bias; supported: false");
        if (OptionalDouble(root, "partial_rotary_factor", fileName) is double partial && partial != 1.0)
            throw new ModelFormatException(fileName, "partial_rotary_factor", $"is {partial.ToString(CultureInfo.InvariantCulture)}, but the runtime rotates whole heads; supported: 1.0");
        bool attentionBias = OptionalBool(root, "attention_bias", fileName) ?? false;
        if (attentionBias && family.FusedProjections)
            throw new ModelFormatException(fileName, "attention_bias", $"is true, but {family.ModelType} projections have no bias; supported: false");

        int hidden = RequiredInt(root, "hidden_size", fileName);
        int inter = RequiredInt(root, "intermediate_size", fileName);
        int layers = RequiredInt(root, "num_hidden_layers", fileName);
        int heads = RequiredInt(root, "num_attention_heads", fileName);
        int kv = OptionalInt(root, "num_key_value_heads", fileName) ?? heads;
        int vocab = RequiredInt(root, "vocab_size", fileName);
        var (ropeTheta, scaling) = ReadRope(root, family, fileName);
        int? window = family.SlidingWindow == SlidingWindowLayers.None ? null : OptionalInt(root, "sliding_window", fileName);
        int maxWindowLayers = 0;
        if (family.SlidingWindow == SlidingWindowLayers.FromMaxWindowLayers)
        {
            // Qwen2/Qwen3: the window is used only with use_sliding_window, from max_window_layers on.
            maxWindowLayers = OptionalInt(root, "max_window_layers", fileName) ?? layers;
            if (maxWindowLayers < 0) throw new ModelFormatException(fileName, "max_window_layers", $"must be 0 or more, got {maxWindowLayers}");
            if (OptionalBool(root, "use_sliding_window", fileName) != true) window = null;
        }
        else if (family.SlidingWindow == SlidingWindowLayers.Even)
        {
            window ??= 4096; // Gemma2Config's default
        }

        var config = new LlamaConfig(
            hidden, inter, layers, heads, kv, vocab,
            OptionalDouble(root, "rms_norm_eps", fileName) ?? (family == ModelFamily.Phi3 ? 1e-5 : 1e-6),
            ropeTheta,
            OptionalBool(root, "tie_word_embeddings", fileName) ?? family.TieEmbeddingsDefault,
            OptionalInt(root, "max_position_embeddings", fileName) ?? 2048,
            OptionalInt(root, "bos_token_id", fileName) ?? 1,
            OptionalIntOrFirst(root, "eos_token_id", fileName) ?? 2)
        {
            Family = family,
            ExplicitHeadDim = OptionalInt(root, "head_dim", fileName) ?? DefaultHeadDim(family),
            HiddenActivation = ReadActivation(root, family, fileName),
            QkvBias = family.QkvBias || attentionBias,
            OutputBias = attentionBias && !family.QkvBias,
            RopeScaling = scaling,
            SlidingWindow = window,
            MaxWindowLayers = maxWindowLayers,
            AttentionSoftCap = family.SoftCapping ? OptionalDouble(root, "attn_logit_softcapping", fileName) ?? (root.TryGetProperty("attn_logit_softcapping", out _) ? null : 50.0) : null,
            FinalSoftCap = family.SoftCapping ? OptionalDouble(root, "final_logit_softcapping", fileName) ?? (root.TryGetProperty("final_logit_softcapping", out _) ? null : 30.0) : null,
            QueryPreAttnScalar = family.SoftCapping ? OptionalDouble(root, "query_pre_attn_scalar", fileName) ?? 256 : null,
        };
        config.Validate(fileName);
        CheckLayerTypes(root, config, fileName);
        return config;
    }

    // Gemma's and Qwen3's config classes default head_dim to 256 and 128; the others derive it from hidden / heads.
    private static int? DefaultHeadDim(ModelFamily family)
        => family == ModelFamily.Gemma || family == ModelFamily.Gemma2 ? 256 : family == ModelFamily.Qwen3 ? 128 : null;

    private static ModelFamily ReadFamily(JsonElement root, string fileName)
    {
        ModelFamily? byArchitecture = null;
        if (root.TryGetProperty("architectures", out JsonElement arch) && arch.ValueKind != JsonValueKind.Null)
        {
            if (arch.ValueKind != JsonValueKind.Array)
                throw new ModelFormatException(fileName, "architectures", $"must be an array of strings, got {JsonInput.Describe(arch)}");
            foreach (JsonElement a in arch.EnumerateArray())
            {
                ModelFamily? f = a.ValueKind == JsonValueKind.String ? ModelFamily.ForArchitecture(a.GetString()!) : null;
                if (f is null || (byArchitecture is not null && f != byArchitecture))
                    throw new ModelFormatException(fileName, "architectures", $"architecture {JsonInput.Describe(a)} is not supported; supported: {string.Join(", ", SupportedArchitectures)}");
                byArchitecture = f;
            }
        }
        if (root.TryGetProperty("model_type", out JsonElement modelType) && modelType.ValueKind != JsonValueKind.Null)
        {
            ModelFamily? f = modelType.ValueKind == JsonValueKind.String ? ModelFamily.ForModelType(modelType.GetString()!) : null;
            if (f is null)
                throw new ModelFormatException(fileName, "model_type", $"model type {JsonInput.Describe(modelType)} is not supported; supported: {string.Join(", ", SupportedModelTypes)}");
            if (byArchitecture is not null && byArchitecture != f)
                throw new ModelFormatException(fileName, "model_type", $"is \"{f.ModelType}\" but architectures names {byArchitecture.Architecture}; the two must describe the same family");
            return f;
        }
        return byArchitecture ?? ModelFamily.Llama;
    }

    private static Activation ReadActivation(JsonElement root, ModelFamily family, string fileName)
    {
        // Gemma configs carry hidden_activation (the one transformers' Gemma code reads) beside a legacy hidden_act "gelu",
        // which the Gemma checkpoints were never trained with: transformers 4.38+ runs gelu_pytorch_tanh for it.
        string field = root.TryGetProperty("hidden_activation", out JsonElement ha) && ha.ValueKind != JsonValueKind.Null ? "hidden_activation" : "hidden_act";
        if (!root.TryGetProperty(field, out JsonElement act) || act.ValueKind == JsonValueKind.Null) return family.DefaultActivation;
        string? name = act.ValueKind == JsonValueKind.String ? act.GetString() : null;
        return name switch
        {
            "silu" or "swish" => Activation.Silu,
            "gelu_pytorch_tanh" => Activation.GeluTanh,
            "gelu" when family.Norm == NormStyle.OnePlusWeight && field == "hidden_act" => Activation.GeluTanh,
            "gelu" => Activation.Gelu,
            _ => throw new ModelFormatException(fileName, field, $"activation {JsonInput.Describe(act)} is not supported; supported: silu, gelu_pytorch_tanh, gelu"),
        };
    }

    /// <summary>rope_theta and the scaling: transformers 5.x <c>rope_parameters</c> (one object with rope_type and
    /// rope_theta) or 4.x <c>rope_theta</c> + <c>rope_scaling</c>.</summary>
    private static (double Theta, RopeScaling? Scaling) ReadRope(JsonElement root, ModelFamily family, string fileName)
    {
        double theta = OptionalDouble(root, "rope_theta", fileName) ?? 10000.0;
        string field = "rope_scaling";
        if (root.TryGetProperty("rope_parameters", out JsonElement p) && p.ValueKind != JsonValueKind.Null)
        {
            field = "rope_parameters";
            if (p.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(fileName, field, $"must be null or an object, got {JsonInput.Describe(p)}");
            theta = OptionalDouble(p, "rope_theta", fileName, field) ?? theta;
        }
        else if (!root.TryGetProperty(field, out p) || p.ValueKind == JsonValueKind.Null)
        {
            return (theta, null);
        }
        if (p.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(fileName, field, $"must be null or an object, got {JsonInput.Describe(p)}");
        JsonElement type = p.TryGetProperty("rope_type", out JsonElement rt) ? rt : p.TryGetProperty("type", out JsonElement t2) ? t2 : default;
        string? name = type.ValueKind == JsonValueKind.String ? type.GetString() : null;
        if (name == "default") return (theta, null);
        // The rotary embedding is the same code for every family, so every family takes the implemented rope types.
        if (name is null || !MoeDsl.Shared.ModelFamilies.IsRopeImplemented(name))
            throw new ModelFormatException(fileName, field, $"rope type {(type.ValueKind == JsonValueKind.Undefined ? "(none given)" : JsonInput.Describe(type))} is not supported for {family.ModelType}; supported: {string.Join(", ", MoeDsl.Shared.ModelFamilies.RopeTypes)}");
        double factor = OptionalDouble(p, "factor", fileName, field) ?? throw new ModelFormatException(fileName, field, $"rope type \"{name}\" needs a 'factor'");
        if (name == "linear") return (theta, new RopeScaling(name, factor, 0, 0, 0));
        double low = OptionalDouble(p, "low_freq_factor", fileName, field) ?? throw new ModelFormatException(fileName, field, "rope type \"llama3\" needs 'low_freq_factor'");
        double high = OptionalDouble(p, "high_freq_factor", fileName, field) ?? throw new ModelFormatException(fileName, field, "rope type \"llama3\" needs 'high_freq_factor'");
        int original = OptionalInt(p, "original_max_position_embeddings", fileName, field) ?? throw new ModelFormatException(fileName, field, "rope type \"llama3\" needs 'original_max_position_embeddings'");
        return (theta, new RopeScaling(name, factor, low, high, original));
    }

    /// <summary>transformers 5.x <c>layer_types</c> must say what the family's rule gives for each layer.</summary>
    private static void CheckLayerTypes(JsonElement root, LlamaConfig config, string fileName)
    {
        if (!root.TryGetProperty("layer_types", out JsonElement types) || types.ValueKind == JsonValueKind.Null) return;
        if (types.ValueKind != JsonValueKind.Array || types.GetArrayLength() != config.NumHiddenLayers)
            throw new ModelFormatException(fileName, "layer_types", $"must be an array of {config.NumHiddenLayers} strings (one per layer), got {JsonInput.Describe(types)}");
        int i = 0;
        foreach (JsonElement t in types.EnumerateArray())
        {
            string? name = t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            bool sliding = name == "sliding_attention";
            if ((!sliding && name != "full_attention") || sliding != config.IsSlidingLayer(i))
                throw new ModelFormatException(fileName, "layer_types", $"layer {i} is {JsonInput.Describe(t)}, but {config.Family.ModelType} with these settings gives "
                    + $"{(config.IsSlidingLayer(i) ? "sliding_attention" : "full_attention")}; only the family's layout ({config.Family.SlidingWindow}) is supported");
            i++;
        }
    }

    /// <summary>Throws <see cref="ModelFormatException"/> when the shape is impossible or absurd.</summary>
    public void Validate(string fileName)
    {
        Positive(HiddenSize, "hidden_size"); Positive(IntermediateSize, "intermediate_size"); Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads"); Positive(NumKeyValueHeads, "num_key_value_heads"); Positive(VocabSize, "vocab_size");
        if (ExplicitHeadDim is int explicitHeadDim) Positive(explicitHeadDim, "head_dim");
        else if (HiddenSize % NumAttentionHeads != 0)
            throw new ModelFormatException(fileName, "hidden_size", $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelFormatException(fileName, "num_key_value_heads", $"num_attention_heads {NumAttentionHeads} is not divisible by num_key_value_heads {NumKeyValueHeads}");
        if (HeadDim % 2 != 0)
            throw new ModelFormatException(fileName, ExplicitHeadDim is null ? "hidden_size" : "head_dim", $"head dimension {HeadDim} must be even for rotary embeddings");
        PositiveNumber(RmsNormEps, "rms_norm_eps");
        PositiveNumber(RopeTheta, "rope_theta");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (BosTokenId < 0 || BosTokenId >= VocabSize) throw new ModelFormatException(fileName, "bos_token_id", $"is {BosTokenId} but must be a token id in [0, {VocabSize}) (vocab_size {VocabSize})");
        if (EosTokenId < 0 || EosTokenId >= VocabSize) throw new ModelFormatException(fileName, "eos_token_id", $"is {EosTokenId} but must be a token id in [0, {VocabSize}) (vocab_size {VocabSize})");
        if ((long)HiddenSize * VocabSize > int.MaxValue)
            throw new ModelFormatException(fileName, "vocab_size", $"vocab_size {VocabSize} x hidden_size {HiddenSize} exceeds {int.MaxValue} embedding elements; this is not a model this runtime can hold");
        if (SlidingWindow is int window) Positive(window, "sliding_window");
        if (AttentionSoftCap is double a) PositiveNumber(a, "attn_logit_softcapping");
        if (FinalSoftCap is double f) PositiveNumber(f, "final_logit_softcapping");
        if (QueryPreAttnScalar is double q) PositiveNumber(q, "query_pre_attn_scalar");
        RopeScaling?.Validate(fileName);
        void Positive(int v, string field)
        {
            if (v <= 0) throw new ModelFormatException(fileName, field, $"must be a positive integer, got {v}");
        }
        void PositiveNumber(double v, string field)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new ModelFormatException(fileName, field, $"must be a positive number, got {v.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    /// <summary>Writes this config as a Hugging Face config.json of its family (transformers 4.x keys).</summary>
    public string ToJson()
    {
        var o = new System.Text.Json.Nodes.JsonObject
        {
            ["architectures"] = new System.Text.Json.Nodes.JsonArray(Family.Architecture),
            ["model_type"] = Family.ModelType,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            [Family.Norm == NormStyle.OnePlusWeight ? "hidden_activation" : "hidden_act"] = ModelFamily.ActivationName(HiddenActivation),
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenId,
            ["torch_dtype"] = "float32",
        };
        if (ExplicitHeadDim is int headDim) o["head_dim"] = headDim;
        if (Family == ModelFamily.Llama || (!Family.QkvBias && !Family.FusedProjections)) o["attention_bias"] = OutputBias;
        if (RopeScaling is RopeScaling s) o["rope_scaling"] = s.ToJson();
        switch (Family.SlidingWindow)
        {
            case SlidingWindowLayers.FromMaxWindowLayers:
                o["use_sliding_window"] = SlidingWindow is not null;
                o["sliding_window"] = SlidingWindow ?? 4096;
                o["max_window_layers"] = MaxWindowLayers;
                break;
            case SlidingWindowLayers.All:
            case SlidingWindowLayers.Even:
                o["sliding_window"] = SlidingWindow;
                break;
        }
        if (Family.SoftCapping)
        {
            o["attn_logit_softcapping"] = AttentionSoftCap;
            o["final_logit_softcapping"] = FinalSoftCap;
            o["query_pre_attn_scalar"] = QueryPreAttnScalar;
        }
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static int RequiredInt(JsonElement root, string name, string file)
        => OptionalInt(root, name, file) ?? throw new ModelFormatException(file, name, "is missing; a LLaMA config.json must give it as an integer");

    private static int? OptionalInt(JsonElement root, string name, string file, string? parent = null)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
            throw new ModelFormatException(file, parent is null ? name : $"{parent}.{name}", $"must be an integer, got {JsonInput.Describe(e)}");
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

    private static double? OptionalDouble(JsonElement root, string name, string file, string? parent = null)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v) || !double.IsFinite(v))
            throw new ModelFormatException(file, parent is null ? name : $"{parent}.{name}", $"must be a finite number, got {JsonInput.Describe(e)}");
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
