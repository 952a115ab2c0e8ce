using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Fuzz;

/// <summary>One reader under fuzz: valid seed inputs and the code that consumes an input the way the runtime does.</summary>
/// <param name="Name">Reader name in reports.</param>
/// <param name="Seeds">Valid inputs (each must be accepted unmutated).</param>
/// <param name="Run">Consumes an input; returns normally (accepted) or throws.</param>
/// <param name="LengthPrefixed">Whether the input starts with a safetensors 8-byte length.</param>
public sealed record FuzzTarget(string Name, IReadOnlyList<byte[]> Seeds, Action<byte[]> Run, bool LengthPrefixed = false);

/// <summary>The readers of untrusted input: safetensors, the shard index, config.json, the JSONL layouts (and the tokenised
/// sequences built from what they accept), and the character tokenizer file.</summary>
public static class FuzzTargets
{
    /// <summary>All targets; files are written under <paramref name="workDirectory"/>.</summary>
    public static IReadOnlyList<FuzzTarget> All(string workDirectory)
    {
        var list = new List<FuzzTarget> { SafeTensors(workDirectory), CheckpointIndex(workDirectory), Config() };
        list.AddRange(Jsonl());
        list.Add(CharTokenizerFile());
        list.Add(HuggingFaceTokenizerFile());
        list.AddRange(ChatDataTargets()); // h-chat (issue 14)
        list.Add(DeclarationSpecFile(workDirectory)); // h6-methods: the JSON declaration spec (issue 16 item 5)
        return list;
    }

    /// <summary>The JSON declaration spec (<see cref="MoeDsl.Runtime.Declarations.DeclarationSpec"/>): accepted, or refused with
    /// <see cref="MoeDsl.Runtime.Declarations.DeclarationSpecException"/> naming each error. Seeds: the seed methods and a
    /// spec with every attribute; one names a ConfigFile written beside it.</summary>
    private static FuzzTarget DeclarationSpecFile(string dir)
    {
        string folder = Path.Combine(dir, "spec");
        Directory.CreateDirectory(Path.Combine(folder, "base"));
        File.WriteAllText(Path.Combine(folder, "base", "config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 172, "
            + "\"num_hidden_layers\": 5, \"num_attention_heads\": 8, \"num_key_value_heads\": 4, \"vocab_size\": 512}");
        const string shape = "\"BaseModel\": { \"Layers\": 4, \"Hidden\": 64, \"Intermediate\": 160, \"Heads\": 4, \"KvHeads\": 2, \"Vocab\": 97 }";
        string[] seeds =
        {
            "{ \"Name\": \"Lora\", \"MoeModel\": {}, " + shape + ", \"Lora\": { \"Rank\": 8, \"Alpha\": 16, \"Targets\": \"Attention\" } }",
            "{ \"Name\": \"MixLora\", \"MoeModel\": { \"Placement\": \"FeedForward\" }, " + shape + ", \"ExpertsPerLayer\": { \"counts\": [8] }, "
                + "\"Router\": { \"kind\": \"TopK\", \"TopK\": 2 }, \"Lora\": { \"Rank\": 4, \"Dropout\": 0.05 }, \"LoadBalance\": { \"coefficient\": 0.001 } }",
            "{ \"Name\": \"TinyHourglass\", \"MoeModel\": { \"Placement\": \"EveryProjection\" }, \"BaseModel\": { \"ConfigFile\": \"base/config.json\" }, "
                + "\"ExpertsPerLayer\": { \"preset\": \"Hourglass\", \"TopK\": [2, 1, 1, 2] }, \"Router\": { \"kind\": \"TopK\" }, "
                + "\"Lora\": { \"Rank\": 4, \"Alpha\": 8, \"Targets\": \"Q | V | Down\" }, \"LoadBalance\": { \"coefficient\": 0.01 } }",
            "{ \"Name\": \"Gmoe\", \"MoeModel\": { \"Placement\": \"FeedForward\", \"ReportParameters\": true }, " + shape + ", \"ExpertsPerLayer\": { \"counts\": [8, 4], \"Ranks\": [4, 2] }, "
                + "\"Router\": { \"kind\": \"Graph\", \"TopK\": 2, \"GraphHidden\": 16, \"GraphLayers\": 2, \"GraphDensity\": 0.25, \"GraphRebuiltAtLoad\": false }, "
                + "\"Lora\": { \"Targets\": [\"Gate\", \"Up\", \"Down\"] }, \"GraphLosses\": { \"Poisson\": 0.005, \"Normal\": 8, \"Form\": \"AbsLog\", \"NormalScope\": \"PerLayer\", \"CountPadding\": false } }",
            "{ \"Name\": \"Switch\", \"MoeModel\": { \"Placement\": \"EveryProjection\" }, " + shape + ", \"ExpertsPerLayer\": { \"counts\": [3] }, "
                + "\"Router\": { \"kind\": \"Switch\", \"CapacityFactor\": 1.5, \"ZLossCoefficient\": 0.001 }, \"Lora\": { \"Rank\": 2 } }",
        };
        string path = Path.Combine(folder, "spec.json");
        return new FuzzTarget("declaration-spec", seeds.Select(Encoding.UTF8.GetBytes).ToArray(), bytes =>
        {
            File.WriteAllBytes(path, bytes);
            Runtime.Modeling.ModelSpec spec = Runtime.Declarations.DeclarationSpec.Load(path);
            // What an accepted spec promises: its per-layer structure is computable and its adapter config reads back.
            _ = (spec.ExpertsPerLayer, spec.TopKPerLayer, spec.RankPerLayer);
            string config = Path.Combine(folder, "adapter_config.json");
            File.WriteAllText(config, Runtime.Adapters.AdapterConfig.Write(spec, "base"));
            Runtime.Modeling.ModelSpec back;
            try { back = Runtime.Adapters.AdapterConfig.Read(config); }
            catch (ModelFormatException e) { throw new InvalidOperationException($"the adapter config written for an accepted spec is refused: {e.Message}", e); }
            if (back.Targets != spec.Targets || !back.Groups.SequenceEqual(spec.Groups) || back.Router != spec.Router)
                throw new InvalidOperationException("the adapter config written for an accepted spec reads back as another declaration");
        });
    }

    private static FuzzTarget SafeTensors(string dir)
    {
        string path = Path.Combine(dir, "fuzz.safetensors");
        var seeds = new List<byte[]>();
        void Seed(params (string Name, Tensor T)[] tensors)
        {
            SafeTensorsWriter.Save(path, tensors.Select(t => KeyValuePair.Create(t.Name, t.T)), new Dictionary<string, string> { ["format"] = "pt" });
            seeds.Add(File.ReadAllBytes(path));
            foreach (var (_, t) in tensors) t.Dispose();
        }
        Seed(("model.embed_tokens.weight", torch.arange(12, ScalarType.Float32).reshape(3, 4)), ("model.norm.weight", torch.ones(4)));
        Seed(("a", torch.ones(2, 3, ScalarType.Float16)), ("b", torch.zeros(5, ScalarType.BFloat16)), ("c", torch.arange(3, ScalarType.Int64)),
            ("d", torch.tensor(new[] { true, false })), ("e", torch.empty(new long[] { 0, 7 })), ("f", torch.tensor(3.5)));
        Seed(("model.layers.0.mlp.up_proj.weight", torch.linspace(-2, 2, 1024).reshape(32, 32)), ("bias", torch.ones(8, ScalarType.BFloat16)));
        Seed(("x", torch.arange(4, ScalarType.Int32)), ("y", torch.arange(2, ScalarType.Float64)), ("z", torch.arange(3, ScalarType.Int8)), ("w", torch.arange(3, ScalarType.Byte)));
        return new FuzzTarget("safetensors", seeds, bytes =>
        {
            File.WriteAllBytes(path, bytes);
            using var f = SafeTensorsFile.Open(path);
            using var scope = torch.NewDisposeScope();
            foreach (SafeTensorEntry e in f.Entries) f.Read(e.Name).Dispose();
        }, LengthPrefixed: true);
    }

    private static FuzzTarget CheckpointIndex(string work)
    {
        string dir = Path.Combine(work, "sharded");
        Directory.CreateDirectory(dir);
        using (Tensor a = torch.ones(2, 2))
            SafeTensorsWriter.Save(Path.Combine(dir, "model-00001-of-00002.safetensors"), new[] { KeyValuePair.Create("model.layers.0.self_attn.q_proj.weight", a) });
        using (Tensor b = torch.zeros(3))
            SafeTensorsWriter.Save(Path.Combine(dir, "model-00002-of-00002.safetensors"), new[] { KeyValuePair.Create("model.norm.weight", b), KeyValuePair.Create("lm_head.weight", b) });
        string seed = "{\n  \"metadata\": {\"total_size\": 40},\n  \"weight_map\": {\n    \"lm_head.weight\": \"model-00002-of-00002.safetensors\",\n"
            + "    \"model.layers.0.self_attn.q_proj.weight\": \"model-00001-of-00002.safetensors\",\n    \"model.norm.weight\": \"model-00002-of-00002.safetensors\"\n  }\n}\n";
        string index = Path.Combine(dir, "model.safetensors.index.json");
        return new FuzzTarget("checkpoint-index", new[] { Encoding.UTF8.GetBytes(seed) }, bytes =>
        {
            File.WriteAllBytes(index, bytes);
            using var c = Checkpoint.Open(dir);
            using var scope = torch.NewDisposeScope();
            foreach (string name in c.Names) c.Read(name).Dispose();
        });
    }

    private static FuzzTarget Config()
    {
        string stories = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 5, "
            + "\"num_attention_heads\": 8, \"num_key_value_heads\": 4, \"vocab_size\": 512, \"max_position_embeddings\": 512, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, "
            + "\"hidden_act\": \"silu\", \"tie_word_embeddings\": true, \"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"float32\"}";
        string llama2 = "{\"_name_or_path\": \"meta-llama/Llama-2-7b-hf\", \"architectures\": [\"LlamaForCausalLM\"], \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\", "
            + "\"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 11008, \"max_position_embeddings\": 4096, \"model_type\": \"llama\", \"num_attention_heads\": 32, "
            + "\"num_hidden_layers\": 32, \"num_key_value_heads\": 32, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05, \"rope_scaling\": null, \"tie_word_embeddings\": false, "
            + "\"torch_dtype\": \"float16\", \"transformers_version\": \"4.31.0.dev0\", \"use_cache\": true, \"vocab_size\": 32000}";
        string mistral = "{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", \"hidden_size\": 4096, \"intermediate_size\": 14336, \"num_hidden_layers\": 32, "
            + "\"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 32000, \"rope_theta\": 1000000.0, \"sliding_window\": null, \"eos_token_id\": [2], \"attention_bias\": false}";
        // One published config.json per family (the fields that matter), transformers 4.x and 5.x spellings.
        string llama32 = "{\"architectures\": [\"LlamaForCausalLM\"], \"head_dim\": 64, \"hidden_act\": \"silu\", \"hidden_size\": 2048, \"intermediate_size\": 8192, "
            + "\"model_type\": \"llama\", \"num_attention_heads\": 32, \"num_hidden_layers\": 16, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05, \"rope_scaling\": "
            + "{\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, "
            + "\"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"vocab_size\": 128256, \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008]}";
        string llama5 = "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 256, "
            + "\"rope_parameters\": {\"rope_type\": \"linear\", \"rope_theta\": 50000.0, \"factor\": 2.0}, \"attention_bias\": true}";
        string qwen2 = "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 896, \"intermediate_size\": 4864, \"max_window_layers\": 21, \"model_type\": \"qwen2\", "
            + "\"num_attention_heads\": 14, \"num_hidden_layers\": 24, \"num_key_value_heads\": 2, \"rope_theta\": 1000000.0, \"sliding_window\": 32768, "
            + "\"tie_word_embeddings\": true, \"use_sliding_window\": true, \"vocab_size\": 151936, \"bos_token_id\": 151643, \"eos_token_id\": 151645}";
        string qwen3 = "{\"architectures\": [\"Qwen3ForCausalLM\"], \"head_dim\": 128, \"hidden_size\": 1024, \"intermediate_size\": 3072, \"model_type\": \"qwen3\", "
            + "\"num_attention_heads\": 16, \"num_hidden_layers\": 4, \"num_key_value_heads\": 8, \"vocab_size\": 151936, \"bos_token_id\": 0, \"eos_token_id\": 1, "
            + "\"layer_types\": [\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\"]}";
        string gemma = "{\"architectures\": [\"GemmaForCausalLM\"], \"head_dim\": 256, \"hidden_act\": \"gelu\", \"hidden_size\": 2048, \"intermediate_size\": 16384, "
            + "\"model_type\": \"gemma\", \"num_attention_heads\": 8, \"num_hidden_layers\": 18, \"num_key_value_heads\": 1, \"vocab_size\": 256000, \"bos_token_id\": 2, \"eos_token_id\": 1}";
        string gemma2 = "{\"architectures\": [\"Gemma2ForCausalLM\"], \"attn_logit_softcapping\": 50.0, \"final_logit_softcapping\": 30.0, \"head_dim\": 256, "
            + "\"hidden_activation\": \"gelu_pytorch_tanh\", \"hidden_size\": 2304, \"intermediate_size\": 9216, \"model_type\": \"gemma2\", \"num_attention_heads\": 8, "
            + "\"num_hidden_layers\": 26, \"num_key_value_heads\": 4, \"query_pre_attn_scalar\": 256, \"sliding_window\": 4096, \"vocab_size\": 256000}";
        string phi3 = "{\"architectures\": [\"Phi3ForCausalLM\"], \"hidden_act\": \"silu\", \"hidden_size\": 3072, \"intermediate_size\": 8192, \"model_type\": \"phi3\", "
            + "\"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 32, \"rms_norm_eps\": 1e-05, \"rope_scaling\": null, \"sliding_window\": 2047, "
            + "\"vocab_size\": 32064, \"eos_token_id\": 32000}";
        var seeds = new[] { stories, llama2, mistral, llama32, llama5, qwen2, qwen3, gemma, gemma2, phi3 };
        return new FuzzTarget("config", seeds.Select(Encoding.UTF8.GetBytes).ToArray(), bytes =>
        {
            LlamaConfig c = LlamaConfig.Parse(bytes, "config.json");
            // What an accepted config promises: the decoder's derived sizes are computable, and the config.json this
            // runtime writes for it reads back as the same config.
            _ = (c.QueryDim, c.KeyValueDim, c.AttentionScale, c.IsSlidingLayer(c.NumHiddenLayers - 1));
            if (LlamaConfig.Parse(c.ToJson(), "written config.json") != c)
                throw new InvalidOperationException($"{c.Family.ModelType}: the config.json written for an accepted config reads back differently");
        });
    }

    private static readonly CharTokenizer Chars = new("\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private static IEnumerable<FuzzTarget> Jsonl()
    {
        var seeds = new (DataLayout Layout, string Content)[]
        {
            (DataLayout.Text, "{\"text\": \"Once upon a time there was a cat.\"}\n{\"text\": \"The end.\"}\n"),
            (DataLayout.PromptCompletion, "{\"prompt\": \"2+2=\", \"completion\": \" 4\"}\n{\"prompt\": \"Capital of France?\", \"completion\": \" Paris\"}\n"),
            (DataLayout.MultipleChoice, "{\"question\": \"Sky colour?\", \"choices\": [\"blue\", \"green\"], \"answer\": 0}\n{\"question\": \"3*3?\", \"choices\": [\"6\", \"9\", \"12\"], \"answer\": \"B\"}\n{\"question\": \"Odd one?\", \"choices\": [\"2\", \"3\"], \"answer\": \"3\"}\n"),
            (DataLayout.Arc, "{\"id\": \"Mercury_1\", \"question\": \"Which is a conductor?\", \"choices\": {\"text\": [\"wood\", \"copper\", \"glass\", \"rubber\"], \"label\": [\"A\", \"B\", \"C\", \"D\"]}, \"answerKey\": \"B\"}\n{\"id\": \"x\", \"question\": \"q?\", \"choices\": {\"text\": [\"a\", \"b\", \"c\"], \"label\": [\"1\", \"2\", \"3\"]}, \"answerKey\": \"3\"}\n"),
            (DataLayout.BoolQ, "{\"question\": \"is the sky blue\", \"answer\": true, \"passage\": \"The sky appears blue because of Rayleigh scattering.\"}\n"),
            (DataLayout.OpenBookQA, "{\"id\": \"7-980\", \"question_stem\": \"The sun is responsible for\", \"choices\": {\"text\": [\"puppies\", \"plants growing\"], \"label\": [\"A\", \"B\"]}, \"answerKey\": \"B\"}\n"),
            (DataLayout.Piqa, "{\"goal\": \"To open a jar\", \"sol1\": \"twist the lid\", \"sol2\": \"hit it with a fish\", \"label\": 0}\n"),
            (DataLayout.Siqa, "{\"context\": \"Tracy went to the store.\", \"question\": \"Why?\", \"answerA\": \"to buy food\", \"answerB\": \"to sleep\", \"answerC\": \"to swim\", \"label\": \"1\"}\n"),
            (DataLayout.HellaSwag, "{\"ind\": 4, \"ctx\": \"A man is washing a car. He\", \"endings\": [\"dries it.\", \"eats it.\", \"flies.\", \"sings.\"], \"label\": \"0\"}\n"),
            (DataLayout.WinoGrande, "{\"sentence\": \"Ian ate because _ was hungry.\", \"option1\": \"Ian\", \"option2\": \"Dennis\", \"answer\": \"1\"}\n"),
        };
        foreach (var (layout, content) in seeds)
        {
            yield return new FuzzTarget("jsonl-" + layout.ToString().ToLowerInvariant(), new[] { Encoding.UTF8.GetBytes(content) }, bytes =>
            {
                // Both reading modes, then what the trainer and the evaluator build from the accepted lines.
                DataFile strict = ReadBothWays(bytes, layout);
                var options = new SequenceOptions { MaxTokens = 48, SkipBadLines = true };
                SequenceBuilder.BuildTraining(strict, Chars, options);
                if (DataLayouts.IsMultipleChoice(layout)) SequenceBuilder.BuildEvaluation(strict, Chars, options);
            });
        }
    }

    private static IEnumerable<string> ByteSymbols()
    {
        int next = 0x100;
        for (int b = 0; b < 256; b++)
            yield return ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? (char)b : (char)next++).ToString();
    }

    private static FuzzTarget HuggingFaceTokenizerFile()
    {
        static string Vocab(IEnumerable<string> tokens) => "{" + string.Join(", ", tokens.Select((t, i) => System.Text.Json.JsonSerializer.Serialize(t) + ": " + i)) + "}";
        string byteLevel = "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 262, \"content\": \"<|endoftext|>\", \"special\": true, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false}], \"normalizer\": null, "
            + "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}, "
            + "\"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}, "
            + "\"model\": {\"type\": \"BPE\", \"vocab\": " + Vocab(ByteSymbols().Concat(new[] { "he", "ll", "hell", "hello", "\u0120w", "or", "<|endoftext|>" }))
            + ", \"merges\": [\"h e\", \"l l\", \"he ll\", \"hell o\", \"\u0120 w\", \"o r\"]}}";
        var spTokens = new[] { "<unk>", "<s>", "</s>" }.Concat(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"))
            .Concat(new[] { "\u2581", "h", "e", "l", "o", "w", "r", "d", "\u2581h", "ll", "\u2581he", "\u2581hell", "\u2581hello", "\u2581w", "or" });
        string sentencePiece = "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false}, {\"id\": 1, \"content\": \"<s>\", \"special\": true, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false}], "
            + "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u2581\"}]}, "
            + "\"pre_tokenizer\": null, \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\u2581\"}, \"content\": \" \"}, "
            + "{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}, \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"byte_fallback\": true, \"vocab\": " + Vocab(spTokens)
            + ", \"merges\": [[\"\u2581\", \"h\"], [\"l\", \"l\"], [\"\u2581h\", \"e\"], [\"\u2581he\", \"ll\"], [\"\u2581hell\", \"o\"], [\"\u2581\", \"w\"], [\"o\", \"r\"]]}}";
        return new FuzzTarget("hf-tokenizer", new[] { byteLevel, sentencePiece }.Select(Encoding.UTF8.GetBytes).ToArray(), bytes =>
        {
            using HuggingFaceTokenizer t = HuggingFaceTokenizer.Parse(bytes, "tokenizer.json", bosId: 1, eosId: 2);
            t.Decode(t.Encode("hello world, hi\n"));
        });
    }

    private static FuzzTarget CharTokenizerFile()
        => new("char-tokenizer", new[] { Encoding.UTF8.GetBytes(new CharTokenizer("\n abc\u00e9\"\\").ToJson()) }, bytes =>
        {
            CharTokenizer t = CharTokenizer.FromJson(bytes, "char_tokenizer.json");
            t.Decode(t.Encode(t.Symbols));
        });

    // ---- h-chat (issue 14): the conversation / Alpaca / token-id layouts, JSON array files, tokenizer_config.json and
    // chat templates. A template the engine refuses, or that refuses a conversation, is refused the way the runtime does
    // (ChatFormat and SequenceBuilder turn both into the typed error naming the file or the line). ----

    private static IEnumerable<FuzzTarget> ChatDataTargets()
    {
        const string messages = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello.\"}]}\n"
            + "{\"conversations\": [{\"from\": \"human\", \"value\": \"2+2?\"}, {\"from\": \"gpt\", \"value\": \"4\"}]}\n";
        yield return new FuzzTarget("jsonl-messages", new[] { Encoding.UTF8.GetBytes(messages) }, bytes => ReadBothWays(bytes, DataLayout.Messages));
        const string alpaca = "{\"instruction\": \"Add the numbers.\", \"input\": \"2 and 3\", \"output\": \"5\"}\n{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"hi\"}\n";
        yield return new FuzzTarget("jsonl-alpaca", new[] { Encoding.UTF8.GetBytes(alpaca) }, bytes =>
            SequenceBuilder.BuildTraining(ReadBothWays(bytes, DataLayout.Alpaca), Chars, new SequenceOptions { MaxTokens = 48, SkipBadLines = true }));
        const string ids = "{\"input_ids\": [1, 20, 30, 40], \"labels\": [-100, -100, 30, 40]}\n{\"input_ids\": [1, 2, 3]}\n";
        yield return new FuzzTarget("jsonl-tokenids", new[] { Encoding.UTF8.GetBytes(ids) }, bytes =>
            SequenceBuilder.BuildTraining(ReadBothWays(bytes, DataLayout.TokenIds), new TokenIdsOnly(64), new SequenceOptions { MaxTokens = 48, SkipBadLines = true }));
        const string array = "[\n  {\"input_ids\": [5, 6, 7]},\n  {\"input_ids\": [8, 9], \"labels\": [-100, 9]}\n]\n";
        yield return new FuzzTarget("json-array", new[] { Encoding.UTF8.GetBytes(array) }, bytes =>
            SequenceBuilder.BuildTraining(ReadBothWays(bytes, DataLayout.TokenIds), new TokenIdsOnly(64), new SequenceOptions { MaxTokens = 48, SkipBadLines = true }));
        const string config = "{\"add_bos_token\": true, \"add_eos_token\": false, \"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\", \"special\": true}, "
            + "\"pad_token\": null, \"chat_template\": [{\"name\": \"default\", \"template\": \"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}\"}]}";
        yield return new FuzzTarget("tokenizer-config", new[] { Encoding.UTF8.GetBytes(config) }, bytes => TokenizerConfig.Parse(bytes, "tokenizer_config.json"));
        yield return new FuzzTarget("chat-template", ChatTemplateSeeds.Select(Encoding.UTF8.GetBytes).ToArray(), bytes =>
        {
            var format = new ChatFormat(Encoding.UTF8.GetString(bytes), "tokenizer_config.json",
                new Dictionary<string, string?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }, new[] { "<|im_end|>", "<end_of_turn>", "<|eot_id|>" });
            try { format.RenderWithAssistantSpans(FuzzConversation); }
            catch (MoeDsl.Runtime.Data.Templates.TemplateRaisedException e) { throw new DataFormatException("chat.jsonl", 1, null, "is refused by the chat template: " + e.TemplateMessage); }
            catch (InvalidOperationException e) { throw new DataFormatException("chat.jsonl", 1, null, e.Message); }
        });
    }

    private static readonly ChatMessage[] FuzzConversation =
    {
        new("system", "Be brief."), new("user", "Capital of France?"), new("assistant", "<think>\nEasy.\n</think>\n\nParis."), new("user", "And Japan?"), new("assistant", "Tokyo."),
    };

    /// <summary>Hand-written templates in the styles of real ones (ChatML with a namespace and a reversed loop, a
    /// header style with trim and loop.index0, an alternating-roles style with raise_exception and slices).</summary>
    private static readonly string[] ChatTemplateSeeds =
    {
        "{%- set ns = namespace(last=messages|length - 1) %}\n{%- for m in messages[::-1] %}\n  {%- if m.role == 'user' and ns.last == messages|length - 1 %}{% set ns.last = (messages|length - 1) - loop.index0 %}{% endif %}\n"
            + "{%- endfor %}\n{%- for m in messages %}\n    {%- if m.role == 'assistant' and '</think>' in m.content %}\n        {%- set c = m.content.split('</think>')[-1].lstrip('\\n') %}\n"
            + "    {%- else %}{% set c = m.content %}{% endif %}\n    {{- '<|im_start|>' + m.role + '\\n' + c + '<|im_end|>\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}\n",
        "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}"
            + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
        "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}{%- set first = messages[0]['content'] + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}\n"
            + "{%- else -%}{%- set first = '' -%}{%- set loop_messages = messages -%}{%- endif -%}\n{%- for message in loop_messages -%}\n"
            + "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}{{ raise_exception('Conversation roles must alternate') }}{%- endif -%}\n"
            + "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' + (first if loop.first else '') }}"
            + "{%- if message['content'] is string -%}{{ message['content'] | trim }}{%- endif -%}{{ '<end_of_turn>\\n' }}\n{%- endfor -%}\n"
            + "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}\n",
    };

    /// <summary>Strict reading, and on a refusal the same input with bad lines skipped.</summary>
    private static DataFile ReadBothWays(byte[] bytes, DataLayout layout)
    {
        try { return JsonlReader.Parse(bytes, "fuzz.jsonl", layout); }
        catch (DataFormatException) { return JsonlReader.Parse(bytes, "fuzz.jsonl", layout, new JsonlReadOptions { SkipBadLines = true }); }
    }
}
