using System;
using System.Linq;
using System.Text;
using MoeDsl.Runtime.Data;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

/// <summary>The Messages (OpenAI / ShareGPT), Alpaca and pre-tokenized layouts, in JSONL and JSON array files.</summary>
public sealed class ConversationLayoutTests
{
    private static DataFile Parse(string content, DataLayout layout, bool skip = false)
        => JsonlReader.Parse(Encoding.UTF8.GetBytes(content), "data.jsonl", layout, new JsonlReadOptions { SkipBadLines = skip });

    [Fact]
    public void OpenAi_and_ShareGpt_conversations_read_to_the_same_turns()
    {
        var openAi = Parse("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello.\"}]}\n", DataLayout.Messages);
        var shareGpt = Parse("{\"conversations\": [{\"from\": \"system\", \"value\": \"Be brief.\"}, {\"from\": \"human\", \"value\": \"Hi\"}, {\"from\": \"gpt\", \"value\": \"Hello.\"}]}\n", DataLayout.Messages);
        var expected = new[] { new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello.") };
        Assert.Equal(expected, ((ConversationExample)openAi.Examples[0]).Messages);
        Assert.Equal(expected, ((ConversationExample)shareGpt.Examples[0]).Messages);
    }

    [Theory]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}", "messages", "has no assistant turn with content")]
    [InlineData("{\"messages\": [{\"role\": \"robot\", \"content\": \"Hi\"}]}", "messages[0].role", "is \"robot\"; roles are system, user, assistant, tool")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content", "must be a string, got number 5")]
    [InlineData("{\"messages\": {\"role\": \"user\"}}", "messages", "must be an array of turns")]
    [InlineData("{\"turns\": []}", "messages", "is missing; the Messages layout needs")]
    [InlineData("{\"input_ids\": [1, -3]}", "input_ids", "entry 1 must be a token id (a non-negative integer)")]
    [InlineData("{\"input_ids\": [1, 2], \"labels\": [-100]}", "labels", "has 1 entries for 2 input_ids")]
    [InlineData("{\"instruction\": \"Add.\", \"input\": 3, \"output\": \"x\"}", "input", "must be a string, got number 3")]
    public void Malformed_records_name_the_line_and_field(string record, string field, string problem)
    {
        DataLayout layout = record.Contains("input_ids", StringComparison.Ordinal) ? DataLayout.TokenIds : record.Contains("instruction", StringComparison.Ordinal) ? DataLayout.Alpaca : DataLayout.Messages;
        var e = Assert.Throws<DataFormatException>(() => Parse("\n" + record + "\n", layout));
        Assert.Equal(2, e.Line);
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Alpaca_uses_the_stanford_prompt_with_and_without_input()
    {
        var data = Parse("{\"instruction\": \"Add the numbers.\", \"input\": \"2 and 3\", \"output\": \"5\"}\n{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"hi\"}\n", DataLayout.Alpaca);
        var withInput = (PromptCompletionExample)data.Examples[0];
        Assert.Equal("Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n", withInput.Prompt);
        Assert.Equal("5", withInput.Completion);
        Assert.Equal("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Response:\n",
            ((PromptCompletionExample)data.Examples[1]).Prompt);
    }

    [Fact]
    public void Json_array_files_hold_the_same_records_and_errors_name_the_records_line()
    {
        const string array = "[\n  {\"input_ids\": [5, 6, 7]},\n  {\"input_ids\": [8], \"labels\": [-100]},\n\n  {\"input_ids\": \"x\"}\n]\n";
        var e = Assert.Throws<DataFormatException>(() => Parse(array, DataLayout.TokenIds));
        Assert.Equal(5, e.Line);
        Assert.Equal("input_ids", e.Field);
        var data = Parse(array, DataLayout.TokenIds, skip: true);
        Assert.Equal(new[] { 2, 3 }, data.Examples.Select(x => x.Line));
        Assert.Equal(new long[] { 5, 6, 7 }, ((TokenIdsExample)data.Examples[0]).InputIds);
        Assert.Equal(new long[] { -100 }, ((TokenIdsExample)data.Examples[1]).Labels);
        Assert.Equal(1, data.SkippedLines);
        var unclosed = Assert.Throws<DataFormatException>(() => Parse("[{\"input_ids\": [1]},\n", DataLayout.TokenIds));
        Assert.Contains("not valid JSON", unclosed.Message, StringComparison.Ordinal);
        var trailing = Assert.Throws<DataFormatException>(() => Parse("[{\"input_ids\": [1]}]\n{}", DataLayout.TokenIds));
        Assert.Equal(2, trailing.Line);
    }

    [Fact]
    public void Token_ids_are_used_as_given_and_checked_against_the_vocabulary()
    {
        var data = Parse("{\"input_ids\": [1, 20, 30, 40], \"labels\": [-100, -100, 30, 40]}\n{\"input_ids\": [1, 2, 3]}\n", DataLayout.TokenIds);
        var built = SequenceBuilder.BuildTraining(data, new TokenIdsOnly(64));
        Assert.Equal(new long[] { 1, 20, 30, 40 }, built.Sequences[0].InputIds);
        Assert.Equal(new long[] { -100, -100, 30, 40 }, built.Sequences[0].Labels);
        Assert.Equal(new long[] { 1, 2, 3 }, built.Sequences[1].Labels);
        // --no-mask-prompt learns every token.
        Assert.Equal(new long[] { 1, 20, 30, 40 }, SequenceBuilder.BuildTraining(data, new TokenIdsOnly(64), new SequenceOptions { MaskPrompt = false }).Sequences[0].Labels);
        var e = Assert.Throws<DataFormatException>(() => SequenceBuilder.BuildTraining(data, new TokenIdsOnly(32)));
        Assert.Equal("data.jsonl:1: field 'input_ids' entry 3 is id 40, outside the vocabulary of 32 ids", e.Message);
        var text = Parse("{\"text\": \"hello\"}\n", DataLayout.Text);
        var noTokenizer = Assert.Throws<DataFormatException>(() => SequenceBuilder.BuildTraining(text, new TokenIdsOnly(64), new SequenceOptions { AddEos = false }));
        Assert.Contains("has no tokenizer, so text cannot be encoded", noTokenizer.Message, StringComparison.Ordinal);
    }
}
