using System.Collections.Generic;
using System.Linq;
using System.Text;
using MoeDsl.Runtime.Data;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

/// <summary>Conversations through the real chat templates and tokenizers of Llama 3, Qwen3 and Gemma 3: by default exactly
/// the assistant tokens are learned — each answer's own ids (encoded alone) followed by the template's end-of-turn token,
/// written out by hand below — and everything else is masked; --no-mask-prompt learns every token.</summary>
public sealed class RealConversationMaskTests
{
    private const string MultiTurn = "{\"messages\": [{\"role\": \"system\", \"content\": \"Answer briefly.\"}, {\"role\": \"user\", \"content\": \"Capital of France?\"}, "
        + "{\"role\": \"assistant\", \"content\": \"Paris.\"}, {\"role\": \"user\", \"content\": \"And of Japan?\"}, {\"role\": \"assistant\", \"content\": \"Tokyo.\"}]}\n";

    [SkippableTheory]
    // Llama 3: each answer then <|eot_id|>.
    [InlineData("llama3", "<|eot_id|>", "", "<|eot_id|>")]
    // Qwen3: the last answer after the last user turn gets the empty think block the template writes; then <|im_end|>.
    [InlineData("qwen3", "<|im_end|>", "<think>\n\n</think>\n\n", "<|im_end|>")]
    // Gemma 3: each answer then <end_of_turn> (the newline after it is not learned).
    [InlineData("gemma3", "<end_of_turn>", "", "<end_of_turn>")]
    public void Only_assistant_tokens_are_learned(string family, string firstEnd, string secondPrefix, string secondEnd)
    {
        var tokenizer = (HuggingFaceTokenizer)Tokenizers.Load(ReferenceFiles.ModelFolder(family))!;
        var data = JsonlReader.Parse(Encoding.UTF8.GetBytes(MultiTurn), "chat.jsonl", DataLayout.Messages);
        TrainingSequence seq = SequenceBuilder.BuildTraining(data, tokenizer, new SequenceOptions { MaxTokens = 4096 }).Sequences[0];

        string rendered = tokenizer.Chat!.Render(((ConversationExample)data.Examples[0]).Messages, addGenerationPrompt: false);
        Assert.Equal(tokenizer.Encode(rendered).Select(i => (long)i), seq.InputIds);
        var learned = seq.Labels.Where(l => l != TrainingSequence.IgnoreIndex).ToArray();
        var expected = new List<long>();
        expected.AddRange(tokenizer.Encode("Paris.").Select(i => (long)i));
        expected.Add(tokenizer.IdOf(firstEnd)!.Value);
        expected.AddRange(tokenizer.Encode(secondPrefix + "Tokyo.").Select(i => (long)i));
        expected.Add(tokenizer.IdOf(secondEnd)!.Value);
        Assert.Equal(expected, learned);
        // The learned positions form two contiguous runs, and each label equals its input id.
        for (int i = 0; i < seq.Labels.Length; i++)
            if (seq.Labels[i] != TrainingSequence.IgnoreIndex) Assert.Equal(seq.InputIds[i], seq.Labels[i]);
        int runs = Enumerable.Range(0, seq.Labels.Length).Count(i => seq.Labels[i] != TrainingSequence.IgnoreIndex && (i == 0 || seq.Labels[i - 1] == TrainingSequence.IgnoreIndex));
        Assert.Equal(2, runs);

        var all = SequenceBuilder.BuildTraining(data, tokenizer, new SequenceOptions { MaxTokens = 4096, MaskPrompt = false }).Sequences[0];
        Assert.Equal(all.InputIds, all.Labels);
    }

    [SkippableFact]
    public void A_conversation_the_template_refuses_is_a_line_numbered_error_with_the_templates_message()
    {
        var tokenizer = Tokenizers.Load(ReferenceFiles.ModelFolder("gemma3"))!;
        var data = JsonlReader.Parse(Encoding.UTF8.GetBytes(MultiTurn + "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}]}\n"),
            "chat.jsonl", DataLayout.Messages);
        var e = Assert.Throws<DataFormatException>(() => SequenceBuilder.BuildTraining(data, tokenizer, new SequenceOptions { MaxTokens = 4096 }));
        Assert.Equal("chat.jsonl:2: is refused by the chat template: Conversation roles must alternate user/assistant/user/assistant/...", e.Message);
        Assert.Single(SequenceBuilder.BuildTraining(data, tokenizer, new SequenceOptions { MaxTokens = 4096, SkipBadLines = true }).Sequences);
    }
}
