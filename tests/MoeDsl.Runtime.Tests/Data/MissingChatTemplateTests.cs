using System;
using System.IO;
using System.Text;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Tests.IO;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

/// <summary>Conversations on a model without a chat template are refused once for the whole file, in one line naming the
/// data file and line, the tokenizer_config.json that lacks the template (or is absent) and the fixes; skipping bad
/// lines does not turn it into a file of skipped lines.</summary>
public sealed class MissingChatTemplateTests : IDisposable
{
    private const string Fix = "give the checkpoint's chat_template (its tokenizer_config.json from the model's repository), or write the data as text, prompt/completion or input_ids";

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static DataFile Chat() => JsonlReader.Parse(Encoding.UTF8.GetBytes(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}, {\"role\": \"assistant\", \"content\": \"world\"}]}\n"
        + "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n"), "chat.jsonl", DataLayout.Messages);

    private string ModelWithTokenizer(string? tokenizerConfig)
    {
        folder.Write(HuggingFaceTokenizer.FileName, HuggingFaceTokenizerTests.ByteLevelJson());
        if (tokenizerConfig is not null) folder.Write(TokenizerConfig.FileName, tokenizerConfig);
        return folder.Path;
    }

    private static DataFormatException Refusal(ITokenizer tokenizer, bool skipBadLines)
        => Assert.Throws<DataFormatException>(() => SequenceBuilder.BuildTraining(Chat(), tokenizer, new SequenceOptions { SkipBadLines = skipBadLines }));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_tokenizer_config_without_chat_template_is_named_with_the_fix(bool skipBadLines)
    {
        string dir = ModelWithTokenizer("{\"eos_token\": \"<|endoftext|>\", \"add_bos_token\": false}");
        using var tokenizer = (HuggingFaceTokenizer)Tokenizers.Load(dir)!;
        Assert.Null(tokenizer.Chat);
        DataFormatException e = Refusal(tokenizer, skipBadLines);
        Assert.Equal($"chat.jsonl:1: is a conversation, but {Path.Combine(dir, "tokenizer_config.json")} has no chat_template: {Fix}", e.Message);
        Assert.Equal(1, e.Line);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_folder_without_tokenizer_config_is_named_with_the_fix()
    {
        string dir = ModelWithTokenizer(null);
        using var tokenizer = (HuggingFaceTokenizer)Tokenizers.Load(dir)!;
        DataFormatException e = Refusal(tokenizer, skipBadLines: false);
        Assert.Equal($"chat.jsonl:1: is a conversation, but {Path.Combine(dir, "tokenizer_config.json")} does not exist: {Fix}", e.Message);
    }

    [Fact]
    public void A_character_tokenizer_has_no_chat_template()
    {
        var tokenizer = new CharTokenizer("abcdefghijklmnopqrstuvwxyz ");
        DataFormatException e = Refusal(tokenizer, skipBadLines: true);
        Assert.Equal($"chat.jsonl:1: is a conversation, but the model's tokenizer (char (27 symbols)) has no chat template; conversations need tokenizer.json with a tokenizer_config.json holding a chat_template: {Fix}", e.Message);
    }
}
