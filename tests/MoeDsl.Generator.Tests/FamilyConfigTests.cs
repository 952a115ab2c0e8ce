using System;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace MoeDsl.Generator.Tests;

/// <summary><c>ConfigFile</c> on each family's config.json (the sizes of real checkpoints, fields as transformers writes
/// them): the shape read at compile time, <c>TrainableParameters</c> against counts made by hand from the weight shapes,
/// the families and rope types the runtime does not implement refused, and where a relative ConfigFile is looked for.</summary>
public class FamilyConfigTests
{
    // The config.json files, trimmed to the fields that matter plus a few that must be tolerated.
    private const string Qwen3_0_6B = """
        { "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072,
          "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
          "rope_scaling": null, "rope_theta": 1000000, "tie_word_embeddings": true, "attention_bias": false, "sliding_window": null }
        """;
    private const string Gemma_2B = """
        { "architectures": ["GemmaForCausalLM"], "model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384,
          "num_hidden_layers": 18, "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 256000,
          "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 10000.0 }
        """;
    private const string Gemma2_2B = """
        { "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216,
          "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000,
          "query_pre_attn_scalar": 256, "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0 }
        """;
    private const string Qwen2_5_0_5B = """
        { "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
          "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
          "use_sliding_window": false, "sliding_window": 32768, "max_window_layers": 21, "tie_word_embeddings": true }
        """;
    private const string Phi3_Mini_4k = """
        { "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
          "rope_scaling": null, "tie_word_embeddings": false }
        """;
    private const string Llama3_2_1B = """
        { "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
          "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
          "rope_scaling": { "factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" },
          "tie_word_embeddings": true }
        """;
    private const string Mistral_7B = """
        { "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000, "sliding_window": 4096 }
        """;

    private static string PlainLora(string configFile = "config.json", string extra = "")
        => Declarations.Wrap($"[MoeModel]\n[BaseModel(ConfigFile = \"{configFile}\"{extra})]\n[Lora(Rank = 8, Targets = LoraTargets.All)]", "M");

    /// <summary>Plain LoRA r = 8 on all seven projections, per layer r (in + out) each, from the weight shapes:
    /// q [heads*head_dim, hidden], k/v [kv*head_dim, hidden], o [hidden, heads*head_dim], gate/up [inter, hidden], down [hidden, inter].</summary>
    [Theory]
    // Qwen3-0.6B: q 1024->2048, k/v 1024->1024, o 2048->1024, gate/up 1024->3072, down 3072->1024:
    // 8 (3072 + 2048 + 2048 + 3072 + 4096 * 3) = 180,224 per layer, 28 layers.
    [InlineData("qwen3", Qwen3_0_6B, 180_224L * 28, 128)]
    // Gemma-2B: q 2048->2048 (8 x 256), k/v 2048->256, o 2048->2048, gate/up 2048->16384: 8 (4096*2 + 2304*2 + 18432*3) = 544,768, 18 layers.
    [InlineData("gemma", Gemma_2B, 544_768L * 18, 256)]
    // Gemma-2-2B: q 2304->2048 (8 x 256, not 2304), k/v 2304->1024, o 2048->2304, gate/up 2304->9216:
    // 8 (4352*2 + 3328*2 + 11520*3) = 399,360, 26 layers.
    [InlineData("gemma2", Gemma2_2B, 399_360L * 26, 256)]
    // Qwen2.5-0.5B (biases on q/k/v do not change LoRA): head dim 896/14 = 64, k/v 896->128, gate/up 896->4864:
    // 8 (1792*2 + 1024*2 + 5760*3) = 183,296, 24 layers.
    [InlineData("qwen2", Qwen2_5_0_5B, 183_296L * 24, 64)]
    // Phi-3-mini, qkv_proj and gate_up_proj split at load: q/k/v/o 3072->3072, gate/up 3072->8192: 8 (6144*4 + 11264*3) = 466,944, 32 layers.
    [InlineData("phi3", Phi3_Mini_4k, 466_944L * 32, 96)]
    // Llama-3.2-1B (rope_type llama3): k/v 2048->512: 8 (4096*2 + 2560*2 + 10240*3) = 352,256, 16 layers.
    [InlineData("llama", Llama3_2_1B, 352_256L * 16, 64)]
    // Mistral-7B: k/v 4096->1024, gate/up 4096->14336: 8 (8192*2 + 5120*2 + 18432*3) = 655,360, 32 layers.
    [InlineData("mistral", Mistral_7B, 655_360L * 32, 128)]
    public void TrainableParametersOfEachFamilyMatchTheHandCount(string family, string config, long expected, int headDim)
    {
        _ = family;
        var outcome = GeneratorHarness.Run(PlainLora(), ("/p/config.json", config));
        Assert.DoesNotContain(outcome.MoeDiagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(outcome.CompilerProblems);
        string generated = outcome.ModelSources.Single().SourceText.ToString();
        Assert.Contains($"public const int HeadDim = {headDim};", generated, StringComparison.Ordinal);
        Assert.Contains("HeadDim = HeadDim,", generated, StringComparison.Ordinal);
        Assert.Equal(expected, ParameterCountTests.TrainableParameters(PlainLora(), ("/p/config.json", config)));
    }

    [Fact]
    public void ExplicitHeadDimShapesTheAdaptersAsTheConfigDoes()
    {
        // Qwen3-0.6B's sizes written out, HeadDim given: the same count as its config.json.
        string source = Declarations.Wrap("""
            [MoeModel]
            [BaseModel(Layers = 28, Hidden = 1024, Intermediate = 3072, Heads = 16, KvHeads = 8, HeadDim = 128, Vocab = 151936)]
            [Lora(Rank = 8, Targets = LoraTargets.All)]
            """, "M");
        Assert.Equal(180_224L * 28, ParameterCountTests.TrainableParameters(source));
        // Without HeadDim the head dimension is 1024 / 16 = 64 and q/o shrink: 8 (2048*2 + 1536*2 + 4096*3) = 155,648.
        Assert.Equal(155_648L * 28, ParameterCountTests.TrainableParameters(source.Replace(", HeadDim = 128", "", StringComparison.Ordinal)));
    }

    [Fact]
    public void AMixtureOnAnExplicitHeadDimCountsItsExpertsAndRouters()
    {
        // MoLA-style (EveryProjection, 2 experts, r = 4) on q and o only of Qwen3-0.6B: per layer and projection
        // 2 experts x 4 (1024 + 2048) + router 2 x in; q in 1024, o in 2048 -> (24,576 + 2,048) + (24,576 + 4,096) = 55,296.
        string source = Declarations.Wrap("""
            [MoeModel(Placement = ExpertPlacement.EveryProjection)]
            [BaseModel(ConfigFile = "config.json")]
            [ExpertsPerLayer(2)]
            [Router(RouterKind.TopK, TopK = 1)]
            [Lora(Rank = 4, Targets = LoraTargets.Q | LoraTargets.O)]
            """, "M");
        Assert.Equal(55_296L * 28, ParameterCountTests.TrainableParameters(source, ("/p/config.json", Qwen3_0_6B)));
    }

    [Fact]
    public void AHeadDimThatDisagreesWithTheConfigIsMOE047AndAnOddOneMOE043()
    {
        var outcome = GeneratorHarness.Run(PlainLora(extra: ", HeadDim = 64"), ("/p/config.json", Qwen3_0_6B));
        var d = Assert.Single(outcome.MoeDiagnostics);
        Assert.Equal("MOE047", d.Id);
        Assert.Contains("HeadDim = 64 but ConfigFile \"config.json\" says head_dim = 128", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

        string odd = Declarations.Wrap("[MoeModel]\n[BaseModel(Layers = 2, Hidden = 64, Intermediate = 128, Heads = 4, HeadDim = 7, Vocab = 32)]\n[Lora]", "M");
        var oddOutcome = GeneratorHarness.Run(odd);
        Assert.Equal("MOE043", Assert.Single(oddOutcome.MoeDiagnostics).Id);
        // An explicit head dim lifts the hidden % heads rule (the head dim no longer comes from it).
        string notDivisible = Declarations.Wrap("[MoeModel]\n[BaseModel(Layers = 2, Hidden = 60, Intermediate = 128, Heads = 8, HeadDim = 8, Vocab = 32)]\n[Lora]", "M");
        Assert.Empty(GeneratorHarness.Run(notDivisible).MoeDiagnostics);
    }

    [Theory]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": { \"type\": \"longrope\", \"long_factor\": [1.0], \"short_factor\": [1.0] }", "MOE073", "rope_scaling.rope_type \"longrope\" (phi3)")]
    [InlineData("\"model_type\": \"phi3\"", "\"model_type\": \"phi3\", \"rope_parameters\": { \"rope_type\": \"yarn\", \"rope_theta\": 10000 }", "MOE073", "rope_parameters.rope_type \"yarn\"")]
    [InlineData("\"model_type\": \"phi3\"", "\"model_type\": \"qwen2_moe\"", "MOE072", "model_type \"qwen2_moe\"")]
    [InlineData("\"model_type\": \"phi3\"", "\"model_type\": 3", "MOE046", "\"model_type\" must be a string, got a number")]
    [InlineData("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": \"no\"", "MOE046", "\"tie_word_embeddings\" must be true or false, got a string")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": { \"rope_type\": \"linear\", \"factor\": 2.0 }", null, null)]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": { \"rope_type\": \"default\" }", null, null)]
    public void FamiliesAndRopeTypesTheRuntimeDoesNotImplementAreRefused(string find, string replace, string? id, string? fragment)
    {
        var outcome = GeneratorHarness.Run(PlainLora(), ("/p/config.json", Phi3_Mini_4k.Replace(find, replace, StringComparison.Ordinal)));
        if (id is null)
        {
            Assert.Empty(outcome.MoeDiagnostics);
            return;
        }
        var d = Assert.Single(outcome.MoeDiagnostics);
        Assert.Equal(id, d.Id);
        Assert.Contains(fragment!, d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Empty(outcome.ModelSources);
    }

    [Fact]
    public void ARelativeConfigFileIsFoundFromTheProjectFolderFirst()
    {
        string five = Declarations.Stories260KConfig, six = five.Replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 6", StringComparison.Ordinal);
        (string, string)[] files = { ("/repo/other/models/config.json", six), ("/repo/app/models/config.json", five), ("/repo/shared/base/config.json", six) };

        // Both match by their ends; the project's own wins.
        var inProject = GeneratorHarness.RunInProject(PlainLora("models/config.json"), "/repo/app/", files);
        Assert.Empty(inProject.MoeDiagnostics);
        Assert.Contains("public const int Layers = 5;", inProject.ModelSources.Single().SourceText.ToString(), StringComparison.Ordinal);

        // A path out of the project folder.
        var up = GeneratorHarness.RunInProject(PlainLora("../shared/base/config.json"), "/repo/app", files);
        Assert.Empty(up.MoeDiagnostics);
        Assert.Contains("public const int Layers = 6;", up.ModelSources.Single().SourceText.ToString(), StringComparison.Ordinal);

        // Nothing at that path in the project, two items end with it: MOE054 names both.
        var ambiguous = GeneratorHarness.RunInProject(PlainLora("models/config.json"), "/repo/elsewhere/", files);
        var d = Assert.Single(ambiguous.MoeDiagnostics);
        Assert.Equal("MOE054", d.Id);
        Assert.Contains("\"/repo/app/models/config.json\" and \"/repo/other/models/config.json\"", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

        // One item ends with it: found without a project folder too.
        Assert.Empty(GeneratorHarness.Run(PlainLora("base/config.json"), files).MoeDiagnostics);
        // "../" never matches by its end.
        Assert.Equal("MOE044", Assert.Single(GeneratorHarness.Run(PlainLora("../shared/base/config.json"), files).MoeDiagnostics).Id);
    }
}
