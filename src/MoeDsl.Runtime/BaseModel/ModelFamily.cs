using System;
using System.Linq;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>How an RMSNorm applies its weight: LLaMA's <c>w * norm(x)</c> or Gemma's <c>(1 + w) * norm(x)</c>.</summary>
public enum NormStyle
{
    /// <summary><c>w * norm(x)</c> (LLaMA, Mistral, Qwen, Phi-3); a fresh weight is ones.</summary>
    Weight,
    /// <summary><c>(1 + w) * norm(x)</c>, computed in fp32 before the cast back (Gemma 1/2); a fresh weight is zeros.</summary>
    OnePlusWeight,
}

/// <summary>The MLP's gate activation.</summary>
public enum Activation
{
    /// <summary><c>x * sigmoid(x)</c> (SwiGLU).</summary>
    Silu,
    /// <summary>PyTorch's <c>gelu(x, approximate="tanh")</c> (GeGLU, Gemma's <c>gelu_pytorch_tanh</c>).</summary>
    GeluTanh,
    /// <summary>Exact erf GELU (<c>gelu</c>).</summary>
    Gelu,
}

/// <summary>Which decoder layers attend through the sliding window when a config gives one.</summary>
public enum SlidingWindowLayers
{
    /// <summary>The family has no sliding window (LLaMA, Gemma 1); a <c>sliding_window</c> key is refused.</summary>
    None,
    /// <summary>Every layer (Mistral, Phi-3).</summary>
    All,
    /// <summary>Layers 0, 2, 4, ... (Gemma 2: <c>sliding_window if not layer_idx % 2</c>).</summary>
    Even,
    /// <summary>Layers from <c>max_window_layers</c> on, and only with <c>use_sliding_window</c> (Qwen2, Qwen3; transformers
    /// 5.x spells the same as <c>layer_types</c>).</summary>
    FromMaxWindowLayers,
}

/// <summary>What one decoder family changes over the one decoder (<see cref="LlamaDecoderLayer"/>): the description
/// that llama.cpp keeps per architecture, instead of a copied decoder per family. Values that a config.json sets
/// (rope scaling, soft-capping values, the window size, head_dim) live on <see cref="IO.LlamaConfig"/>; this record says
/// what the family's code does with them and what a key's absence means.</summary>
/// <param name="ModelType">config.json <c>model_type</c>.</param>
/// <param name="Architecture">config.json <c>architectures[0]</c> of the causal LM.</param>
/// <param name="Norm">RMSNorm weight style.</param>
/// <param name="DefaultActivation">The activation when config.json names none.</param>
/// <param name="QkvBias">q/k/v projections carry a bias whatever <c>attention_bias</c> says (Qwen2).</param>
/// <param name="QkNorm">Per-head RMSNorm on q and k before the rotation (<c>q_norm</c>, <c>k_norm</c>: Qwen3).</param>
/// <param name="ScaleEmbeddings">Embeddings multiplied by sqrt(hidden_size) (Gemma).</param>
/// <param name="TieEmbeddingsDefault">What an absent <c>tie_word_embeddings</c> means.</param>
/// <param name="SandwichNorms">Norms after attention and around the MLP (<c>post_attention_layernorm</c> on the attention
/// output, <c>pre_feedforward_layernorm</c>, <c>post_feedforward_layernorm</c>: Gemma 2).</param>
/// <param name="SoftCapping">Reads <c>attn_logit_softcapping</c>, <c>final_logit_softcapping</c> and
/// <c>query_pre_attn_scalar</c> (Gemma 2).</param>
/// <param name="FusedProjections">The checkpoint stores <c>qkv_proj</c> and <c>gate_up_proj</c> fused (Phi-3); they are
/// split into q/k/v and gate/up at load.</param>
/// <param name="SlidingWindow">Which layers use <c>sliding_window</c>.</param>
public sealed record ModelFamily(
    string ModelType,
    string Architecture,
    NormStyle Norm = NormStyle.Weight,
    Activation DefaultActivation = Activation.Silu,
    bool QkvBias = false,
    bool QkNorm = false,
    bool ScaleEmbeddings = false,
    bool TieEmbeddingsDefault = false,
    bool SandwichNorms = false,
    bool SoftCapping = false,
    bool FusedProjections = false,
    SlidingWindowLayers SlidingWindow = SlidingWindowLayers.None)
{
    /// <summary>LLaMA 1/2/3/3.x (<c>LlamaForCausalLM</c>).</summary>
    public static ModelFamily Llama { get; } = new("llama", "LlamaForCausalLM");
    /// <summary>Mistral: LLaMA with a sliding window on every layer.</summary>
    public static ModelFamily Mistral { get; } = new("mistral", "MistralForCausalLM", SlidingWindow: SlidingWindowLayers.All);
    /// <summary>Qwen2 / Qwen2.5: q/k/v bias; sliding window from max_window_layers when use_sliding_window.</summary>
    public static ModelFamily Qwen2 { get; } = new("qwen2", "Qwen2ForCausalLM", QkvBias: true, SlidingWindow: SlidingWindowLayers.FromMaxWindowLayers);
    /// <summary>Qwen3: per-head q_norm/k_norm, explicit head_dim.</summary>
    public static ModelFamily Qwen3 { get; } = new("qwen3", "Qwen3ForCausalLM", QkNorm: true, SlidingWindow: SlidingWindowLayers.FromMaxWindowLayers);
    /// <summary>Gemma 1: (1 + w) norms, GeGLU (tanh), embeddings x sqrt(hidden), tied by default.</summary>
    public static ModelFamily Gemma { get; } = new("gemma", "GemmaForCausalLM", NormStyle.OnePlusWeight, Activation.GeluTanh,
        ScaleEmbeddings: true, TieEmbeddingsDefault: true);
    /// <summary>Gemma 2: Gemma plus sandwich norms, attention/final soft-capping, query_pre_attn_scalar and a sliding window
    /// on even layers.</summary>
    public static ModelFamily Gemma2 { get; } = new("gemma2", "Gemma2ForCausalLM", NormStyle.OnePlusWeight, Activation.GeluTanh,
        ScaleEmbeddings: true, TieEmbeddingsDefault: true, SandwichNorms: true, SoftCapping: true, SlidingWindow: SlidingWindowLayers.Even);
    /// <summary>Phi-3: fused qkv_proj and gate_up_proj (split at load), sliding window on every layer.</summary>
    public static ModelFamily Phi3 { get; } = new("phi3", "Phi3ForCausalLM", FusedProjections: true, SlidingWindow: SlidingWindowLayers.All);

    /// <summary>Every family the runtime implements, in the order of <c>MoeDsl.Shared.ModelFamilies.ModelTypes</c> (the list
    /// the generator checks ConfigFile against; a test holds the two equal).</summary>
    public static ModelFamily[] All { get; } = { Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma2, Phi3 };

    /// <summary>The family of a <c>model_type</c>, or null.</summary>
    public static ModelFamily? ForModelType(string modelType) => All.FirstOrDefault(f => f.ModelType == modelType);

    /// <summary>The family of an architecture name, or null.</summary>
    public static ModelFamily? ForArchitecture(string architecture) => All.FirstOrDefault(f => f.Architecture == architecture);

    /// <summary>The config.json spelling of an activation.</summary>
    public static string ActivationName(Activation activation) => activation switch
    {
        Activation.Silu => "silu",
        Activation.GeluTanh => "gelu_pytorch_tanh",
        Activation.Gelu => "gelu",
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "not an activation"),
    };
}
