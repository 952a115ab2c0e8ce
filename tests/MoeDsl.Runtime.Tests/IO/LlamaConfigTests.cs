using System;
using MoeDsl.Runtime.IO;
using Xunit;

namespace MoeDsl.Runtime.Tests.IO;

public sealed class LlamaConfigTests
{
    private const string File = "/models/x/config.json";

    /// <summary>stories260K's config.json, with <paramref name="replace"/> applied ("old" => "new").</summary>
    private static string Config(params (string Old, string New)[] replace)
    {
        string json = """
            {
              "architectures": ["LlamaForCausalLM"],
              "model_type": "llama",
              "hidden_size": 64,
              "intermediate_size": 172,
              "num_hidden_layers": 5,
              "num_attention_heads": 8,
              "num_key_value_heads": 4,
              "vocab_size": 512,
              "max_position_embeddings": 512,
              "rms_norm_eps": 1e-05,
              "rope_theta": 10000.0,
              "hidden_act": "silu",
              "tie_word_embeddings": true,
              "bos_token_id": 1,
              "eos_token_id": 2
            }
            """;
        foreach (var (o, n) in replace)
        {
            Assert.Contains(o, json, StringComparison.Ordinal);
            json = json.Replace(o, n, StringComparison.Ordinal);
        }
        return json;
    }

    private static void Refused(string json, string? field, string expected)
    {
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.Parse(json, File));
        Assert.Equal(File, e.File);
        Assert.Equal(field, e.Item);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Valid_config_parses_every_field()
    {
        LlamaConfig c = LlamaConfig.Parse(Config(), File);
        Assert.Equal(new LlamaConfig(64, 172, 5, 8, 4, 512, 1e-5, 10000.0, true, 512, 1, 2), c);
        Assert.Equal(8, c.HeadDim);
    }

    [Fact]
    public void Round_trips_through_ToJson() => Assert.Equal(LlamaConfig.Parse(Config(), File), LlamaConfig.Parse(LlamaConfig.Parse(Config(), File).ToJson(), File));

    [Fact]
    public void Missing_required_field_is_named() => Refused(Config(("\"hidden_size\": 64,", "")), "hidden_size", "is missing; a LLaMA config.json must give it as an integer");

    [Fact]
    public void Mistyped_field_is_named() => Refused(Config(("\"hidden_size\": 64", "\"hidden_size\": \"64\"")), "hidden_size", "must be an integer, got string \"64\"");

    [Fact]
    public void Fractional_integer_field_is_refused() => Refused(Config(("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 5.5")), "num_hidden_layers", "must be an integer, got number 5.5");

    [Fact]
    public void Mistyped_boolean_is_named() => Refused(Config(("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1")), "tie_word_embeddings", "must be true or false, got number 1");

    [Fact]
    public void Hidden_not_divisible_by_heads_is_refused() => Refused(Config(("\"num_attention_heads\": 8", "\"num_attention_heads\": 6")), "hidden_size", "hidden_size 64 is not divisible by num_attention_heads 6");

    [Fact]
    public void Heads_not_divisible_by_kv_heads_is_refused() => Refused(Config(("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3")), "num_key_value_heads", "num_attention_heads 8 is not divisible by num_key_value_heads 3");

    [Fact]
    public void Non_positive_size_is_refused() => Refused(Config(("\"intermediate_size\": 172", "\"intermediate_size\": 0")), "intermediate_size", "must be a positive integer, got 0");

    [Fact]
    public void Token_ids_outside_the_vocabulary_are_refused() => Refused(Config(("\"eos_token_id\": 2", "\"eos_token_id\": 512")), "eos_token_id", "must be a token id in [0, 512)");

    [Fact]
    public void Eos_list_takes_the_first_id() => Assert.Equal(2, LlamaConfig.Parse(Config(("\"eos_token_id\": 2", "\"eos_token_id\": [2, 7]")), File).EosTokenId);

    [Fact]
    public void Unsupported_architecture_lists_the_supported_ones()
        => Refused(Config(("\"LlamaForCausalLM\"", "\"GPT2LMHeadModel\"")), "architectures", "architecture string \"GPT2LMHeadModel\" is not supported; supported: LlamaForCausalLM, MistralForCausalLM");

    [Fact]
    public void Unsupported_model_type_lists_the_supported_ones()
        => Refused(Config(("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"")), "model_type", "supported: llama, mistral");

    [Fact]
    public void Incomplete_llama3_rope_scaling_is_refused()
        => Refused(Config(("\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0},")), "rope_scaling",
            "rope type \"llama3\" needs 'low_freq_factor'");

    [Fact]
    public void Unimplemented_rope_type_is_refused_naming_the_type()
        => Refused(Config(("\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 8.0},")), "rope_scaling",
            "rope type string \"yarn\" is not supported for llama; supported: default, linear, llama3");

    [Fact]
    public void Default_rope_scaling_and_null_are_accepted()
    {
        LlamaConfig.Parse(Config(("\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"default\"},")), File);
        LlamaConfig.Parse(Config(("\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"rope_scaling\": null,")), File);
    }

    [Fact]
    public void Unsupported_activation_is_refused() => Refused(Config(("\"silu\"", "\"relu\"")), "hidden_act", "activation string \"relu\" is not supported; supported: silu, gelu_pytorch_tanh, gelu");

    [Fact]
    public void Mlp_bias_is_refused() => Refused(Config(("\"hidden_act\"", "\"mlp_bias\": true, \"hidden_act\"")), "mlp_bias", "supported: false");

    [Fact]
    public void Explicit_head_dim_sets_the_query_width()
    {
        LlamaConfig c = LlamaConfig.Parse(Config(("\"hidden_act\"", "\"head_dim\": 16, \"hidden_act\"")), File);
        Assert.Equal((16, 128L, 64L), (c.HeadDim, c.QueryDim, c.KeyValueDim));
    }

    [Fact]
    public void Field_given_twice_is_refused() => Refused(Config(("\"vocab_size\": 512,", "\"vocab_size\": 512, \"vocab_size\": 1024,")), "vocab_size", "is named twice in the config");

    [Fact]
    public void Not_json_is_refused() => Refused("{\"hidden_size\": 64,,}", null, "config is not valid JSON at line 1");

    [Fact]
    public void Not_an_object_is_refused() => Refused("[64]", null, "must be a JSON object");

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(Config());
        bytes[5] = 0xFF;
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.Parse(bytes, File));
        Assert.Contains("config is not valid UTF-8 (bad byte 0xFF at offset 5)", e.Problem, StringComparison.Ordinal);
    }
}
