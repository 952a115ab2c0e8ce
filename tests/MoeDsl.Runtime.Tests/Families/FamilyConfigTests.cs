using System;
using System.Linq;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using Xunit;

namespace MoeDsl.Runtime.Tests.Families;

/// <summary>config.json of each family as the published checkpoints write it (the fields that matter, copied from the
/// models' config.json on the Hugging Face hub), what absent keys mean per family, and what is refused.</summary>
public sealed class FamilyConfigTests
{
    private const string File = "config.json";

    [Fact]
    public void The_family_table_lists_the_model_types_the_generator_accepts()
        => Assert.Equal(MoeDsl.Shared.ModelFamilies.ModelTypes, ModelFamily.All.Select(f => f.ModelType));

    [Theory]
    [MemberData(nameof(FamilyCheckpoint.All), MemberType = typeof(FamilyCheckpoint))]
    public void Written_config_reads_back_equal(string modelType)
    {
        LlamaConfig c = FamilyShapes.Tiny(ModelFamily.ForModelType(modelType)!);
        Assert.Equal(c, LlamaConfig.Parse(c.ToJson(), File));
    }

    [Fact]
    public void Llama_3_2_1B_reads_its_llama3_rope_scaling_and_head_dim()
    {
        LlamaConfig c = LlamaConfig.Parse("""
            {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000, "eos_token_id": 128001,
             "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072,
             "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
             "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
             "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0, "tie_word_embeddings": true,
             "torch_dtype": "bfloat16", "vocab_size": 128256}
            """, File);
        Assert.Equal(FamilyShapes.Llama32OneB with { OutputBias = false }, c);
        // By hand (Llama 3.1 scaling, original 8192, low 1, high 4): wavelengths above 8192 are divided by 32, those below
        // 2048 kept, 2*pi/1e-3 = 6283.185 lies between: smooth = (8192/6283.185 - 1) / 3 = 0.1012658, (1 - s)/32 + s = 0.1293512.
        Assert.Equal(1e-5 / 32, c.RopeScaling!.Scale(1e-5), 15);
        Assert.Equal(0.5, c.RopeScaling.Scale(0.5), 15);
        Assert.Equal(1.293512e-4, c.RopeScaling.Scale(1e-3), 10);
    }

    [Fact]
    public void Transformers_5_rope_parameters_are_read()
    {
        LlamaConfig c = LlamaConfig.Parse("""
            {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256,
             "rope_parameters": {"rope_type": "linear", "rope_theta": 50000.0, "factor": 2.0}}
            """, File);
        Assert.Equal(50000.0, c.RopeTheta);
        Assert.Equal(new RopeScaling("linear", 2.0, 0, 0, 0), c.RopeScaling);
        Assert.Equal(0.25, c.RopeScaling!.Scale(0.5));
    }

    [Fact]
    public void Qwen2_5_0_5B_has_qkv_bias_tied_embeddings_and_no_window_unless_asked()
    {
        LlamaConfig c = LlamaConfig.Parse("""
            {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
             "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
             "max_window_layers": 21, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
             "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
             "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
            """, File);
        Assert.Equal(FamilyShapes.Qwen25HalfB, c);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputBias);
        Assert.Null(c.SlidingWindow);
        Assert.False(c.IsSlidingLayer(23));
        LlamaConfig windowed = LlamaConfig.Parse(c.ToJson().Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true", StringComparison.Ordinal), File);
        Assert.Equal(4096, windowed.SlidingWindow); // ToJson writes 4096 for an unused window; with use_sliding_window it applies
        Assert.Equal(new[] { false, true }, new[] { windowed.IsSlidingLayer(20), windowed.IsSlidingLayer(21) });
    }

    [Fact]
    public void Qwen3_reads_its_explicit_head_dim_and_defaults_it_to_128()
    {
        const string Qwen3 = """
            {"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
             "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
             "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null,
             "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936,
             "bos_token_id": 151643, "eos_token_id": 151645}
            """;
        LlamaConfig c = LlamaConfig.Parse(Qwen3, File);
        Assert.Equal((ModelFamily.Qwen3, 128, 2048L, 1024L), (c.Family, c.HeadDim, c.QueryDim, c.KeyValueDim));
        Assert.Equal(128, LlamaConfig.Parse(Qwen3.Replace("\"head_dim\": 128, ", "", StringComparison.Ordinal), File).HeadDim);
    }

    [Fact]
    public void Gemma_2B_defaults_to_tied_embeddings_and_runs_the_tanh_gelu_for_its_legacy_hidden_act()
    {
        LlamaConfig c = LlamaConfig.Parse("""
            {"architectures": ["GemmaForCausalLM"], "attention_bias": false, "bos_token_id": 2, "eos_token_id": 1, "head_dim": 256,
             "hidden_act": "gelu", "hidden_size": 2048, "intermediate_size": 16384, "max_position_embeddings": 8192, "model_type": "gemma",
             "num_attention_heads": 8, "num_hidden_layers": 18, "num_key_value_heads": 1, "pad_token_id": 0, "rms_norm_eps": 1e-06,
             "rope_theta": 10000.0, "torch_dtype": "bfloat16", "vocab_size": 256000}
            """, File);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal((Activation.GeluTanh, 256, NormStyle.OnePlusWeight, true), (c.HiddenActivation, c.HeadDim, c.Family.Norm, c.Family.ScaleEmbeddings));
    }

    [Fact]
    public void Gemma_2_2B_reads_soft_caps_query_scalar_and_alternating_windows()
    {
        LlamaConfig c = LlamaConfig.Parse("""
            {"architectures": ["Gemma2ForCausalLM"], "attention_bias": false, "attn_logit_softcapping": 50.0, "bos_token_id": 2,
             "cache_implementation": "hybrid", "eos_token_id": 1, "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
             "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "intermediate_size": 9216, "max_position_embeddings": 8192,
             "model_type": "gemma2", "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0,
             "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "vocab_size": 256000}
            """, File);
        Assert.Equal((50.0, 30.0, 256.0, 4096), (c.AttentionSoftCap, c.FinalSoftCap, c.QueryPreAttnScalar, c.SlidingWindow));
        Assert.Equal(new[] { true, false, true }, new[] { c.IsSlidingLayer(0), c.IsSlidingLayer(1), c.IsSlidingLayer(2) });
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(1 / 16.0, c.AttentionScale);
    }

    [Fact]
    public void Phi_3_mini_4k_splits_its_fused_projections_and_refuses_longrope()
    {
        const string Phi3 = """
            {"architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "embd_pdrop": 0.0, "eos_token_id": 32000,
             "hidden_act": "silu", "hidden_size": 3072, "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "phi3",
             "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "original_max_position_embeddings": 4096,
             "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": false,
             "torch_dtype": "bfloat16", "vocab_size": 32064}
            """;
        LlamaConfig c = LlamaConfig.Parse(Phi3, File);
        Assert.Equal((2047, true, 1e-5), (c.SlidingWindow, c.Family.FusedProjections, c.RmsNormEps));
        FusedTensor[] fused = FusedTensor.Of(c).Take(2).ToArray();
        Assert.Equal(("model.layers.0.self_attn.qkv_proj.weight", 3 * 3072L), (fused[0].Name, fused[0].Rows));
        Assert.Equal(("model.layers.0.mlp.gate_up_proj.weight", 2 * 8192L), (fused[1].Name, fused[1].Rows));
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.Parse(Phi3.Replace("\"rope_scaling\": null",
            "\"rope_scaling\": {\"type\": \"longrope\", \"long_factor\": [1.0], \"short_factor\": [1.0]}", StringComparison.Ordinal), File));
        Assert.Equal("rope_scaling", e.Item);
        Assert.Contains("rope type string \"longrope\" is not supported for phi3; supported: default, linear, llama3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mistral_7B_v0_1_windows_every_layer()
    {
        LlamaConfig c = LlamaConfig.Parse("""
            {"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
             "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
             "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000}
            """, File);
        Assert.True(Enumerable.Range(0, 32).All(c.IsSlidingLayer));
        Assert.Equal(4096, c.WindowOf(31));
    }

    [Theory]
    [InlineData("\"model_type\": \"qwen2\", \"architectures\": [\"LlamaForCausalLM\"]", "model_type", "is \"qwen2\" but architectures names LlamaForCausalLM")]
    [InlineData("\"model_type\": \"gpt_neox\"", "model_type", "model type string \"gpt_neox\" is not supported; supported: llama, mistral, qwen2, qwen3, gemma, gemma2, phi3")]
    [InlineData("\"model_type\": \"phi3\", \"attention_bias\": true", "attention_bias", "phi3 projections have no bias")]
    [InlineData("\"model_type\": \"phi3\", \"partial_rotary_factor\": 0.5", "partial_rotary_factor", "supported: 1.0")]
    [InlineData("\"model_type\": \"qwen2\", \"layer_types\": [\"sliding_attention\", \"full_attention\"]", "layer_types", "layer 0 is string \"sliding_attention\", but qwen2 with these settings gives full_attention")]
    [InlineData("\"model_type\": \"gemma2\", \"attn_logit_softcapping\": -1", "attn_logit_softcapping", "must be a positive number, got -1")]
    [InlineData("\"model_type\": \"qwen3\", \"head_dim\": 15", "head_dim", "head dimension 15 must be even")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}", "rope_scaling", "0 < low_freq_factor < high_freq_factor")]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4}", "rope_parameters", "rope type string \"yarn\" is not supported for llama")]
    [InlineData("\"model_type\": \"mistral\", \"sliding_window\": 0", "sliding_window", "must be a positive integer, got 0")]
    public void What_a_family_cannot_run_is_refused_naming_the_field(string extra, string field, string problem)
    {
        string json = "{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 256, " + extra + "}";
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.Parse(json, File));
        Assert.Equal(field, e.Item);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }
}
