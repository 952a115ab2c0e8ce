using System;
using System.Linq;
using System.Text;
using MoeDsl.Runtime.Data;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

public sealed class SequenceBuilderTests
{
    private const long M = TrainingSequence.IgnoreIndex;
    private static readonly CharTokenizer Chars = new("\n :.?+=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static DataFile Data(string content, DataLayout layout) => JsonlReader.Parse(Encoding.UTF8.GetBytes(content), "task.jsonl", layout);

    private static long Id(char c) => Chars.Encode(c.ToString())[0];
    private static long[] Ids(string s) => s.Select(Id).ToArray();

    [Fact]
    public void Text_learns_every_token_after_bos()
    {
        TrainingSequence s = Assert.Single(SequenceBuilder.BuildTraining(Data("{\"text\": \"ab\"}", DataLayout.Text), Chars).Sequences);
        Assert.Equal(new long[] { 1, Id('a'), Id('b'), 2 }, s.InputIds);
        Assert.Equal(new long[] { M, Id('a'), Id('b'), 2 }, s.Labels);
        Assert.Equal(("task", 1), (s.Task, s.Line));
    }

    [Fact]
    public void Prompt_is_masked_from_the_loss_unless_asked()
    {
        DataFile d = Data("{\"prompt\": \"1+1=\", \"completion\": \"2\"}", DataLayout.PromptCompletion);
        TrainingSequence masked = SequenceBuilder.BuildTraining(d, Chars).Sequences[0];
        Assert.Equal(new long[] { 1 }.Concat(Ids("1+1=2")).Append(2).ToArray(), masked.InputIds);
        Assert.Equal(new long[] { M, M, M, M, M, Id('2'), 2 }, masked.Labels);
        TrainingSequence open = SequenceBuilder.BuildTraining(d, Chars, new SequenceOptions { MaskPrompt = false, AddEos = false }).Sequences[0];
        Assert.Equal(new long[] { M }.Concat(Ids("1+1=2")).ToArray(), open.Labels);
    }

    [Fact]
    public void Multiple_choice_learns_the_answer_letter_that_evaluation_scores()
    {
        DataFile d = Data("{\"question\": \"Q\", \"choices\": [\"x\", \"y\"], \"answer\": 1}", DataLayout.MultipleChoice);
        string prompt = "Q\nA. x\nB. y\nAnswer:";
        TrainingSequence s = SequenceBuilder.BuildTraining(d, Chars).Sequences[0];
        Assert.Equal(new long[] { 1 }.Concat(Ids(prompt + " B")).Append(2).ToArray(), s.InputIds);
        Assert.Equal(Enumerable.Repeat(M, 1 + prompt.Length + 1).Append(Id('B')).Append(2).ToArray(), s.Labels);

        MultipleChoiceItem item = Assert.Single(SequenceBuilder.BuildEvaluation(d, Chars));
        Assert.Equal(new long[] { 1 }.Concat(Ids(prompt + " ")).ToArray(), item.PromptIds);
        Assert.Equal(new[] { Id('A'), Id('B') }, item.LetterIds);
        Assert.Equal(new long[] { 1 }.Concat(Ids("Q\nAnswer:")).ToArray(), item.ContextIds);
        Assert.Equal(new[] { Ids(" x"), Ids(" y") }, item.ContinuationIds);
        Assert.Equal(new[] { 2, 2 }, item.ContinuationLengths);
        Assert.Equal(1, item.Answer);
    }

    [Fact]
    public void Truncation_drops_prompt_tokens_from_the_left_and_counts()
    {
        DataFile d = Data("{\"prompt\": \"abcd\", \"completion\": \"e\"}\n{\"prompt\": \"a\", \"completion\": \"b\"}", DataLayout.PromptCompletion);
        TokenizedData t = SequenceBuilder.BuildTraining(d, Chars, new SequenceOptions { MaxTokens = 4 });
        Assert.Equal(1, t.Truncated);
        Assert.Equal(new long[] { 1, Id('d'), Id('e'), 2 }, t.Sequences[0].InputIds);
        Assert.Equal(new long[] { M, M, Id('e'), 2 }, t.Sequences[0].Labels);
        Assert.Equal(new long[] { 1, Id('a'), Id('b'), 2 }, t.Sequences[1].InputIds);
    }

    [Fact]
    public void Text_truncation_keeps_the_beginning()
    {
        TokenizedData t = SequenceBuilder.BuildTraining(Data("{\"text\": \"abcdef\"}", DataLayout.Text), Chars, new SequenceOptions { MaxTokens = 4 });
        Assert.Equal(new long[] { 1, Id('a'), Id('b'), Id('c') }, t.Sequences[0].InputIds);
        Assert.Equal(1, t.Truncated);
    }

    [Fact]
    public void Refuse_policy_names_the_line_or_counts_the_skip()
    {
        DataFile d = Data("{\"text\": \"ab\"}\n{\"text\": \"abcdef\"}", DataLayout.Text);
        var e = Assert.Throws<DataFormatException>(() => SequenceBuilder.BuildTraining(d, Chars, new SequenceOptions { MaxTokens = 5, OverLength = LengthPolicy.Refuse }));
        Assert.Equal(2, e.Line);
        Assert.Contains("has 8 tokens, more than the limit of 5", e.Problem, StringComparison.Ordinal);
        TokenizedData t = SequenceBuilder.BuildTraining(d, Chars, new SequenceOptions { MaxTokens = 5, OverLength = LengthPolicy.Refuse, SkipBadLines = true });
        Assert.Equal((1, 1, 0), (t.Sequences.Count, t.Skipped, t.Truncated));
    }

    [Fact]
    public void Text_the_tokenizer_cannot_encode_names_the_line()
    {
        var e = Assert.Throws<DataFormatException>(() => SequenceBuilder.BuildTraining(Data("{\"text\": \"ab\"}\n{\"text\": \"a~\"}", DataLayout.Text), Chars));
        Assert.Equal(2, e.Line);
        Assert.Contains("cannot be tokenised: character '~' (U+007E)", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Mix_is_a_seeded_shuffle_of_all_tasks()
    {
        TokenizedData a = SequenceBuilder.BuildTraining(Data(string.Join("\n", Enumerable.Range(0, 20).Select(i => "{\"text\": \"a" + i + "\"}")), DataLayout.Text), Chars, task: "a");
        TokenizedData b = SequenceBuilder.BuildTraining(Data(string.Join("\n", Enumerable.Range(0, 20).Select(i => "{\"text\": \"b" + i + "\"}")), DataLayout.Text), Chars, task: "b");
        var one = SequenceBuilder.Mix(new[] { a, b }, seed: 7);
        var two = SequenceBuilder.Mix(new[] { a, b }, seed: 7);
        var other = SequenceBuilder.Mix(new[] { a, b }, seed: 8);
        Assert.Equal(one.Select(s => (s.Task, s.Line)), two.Select(s => (s.Task, s.Line)));
        Assert.NotEqual(one.Select(s => (s.Task, s.Line)), other.Select(s => (s.Task, s.Line)));
        Assert.Equal(40, one.Select(s => (s.Task, s.Line)).Distinct().Count());
    }
}
