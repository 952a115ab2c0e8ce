using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace MoeDsl.Runtime.Data;

/// <summary>What to do with a sequence longer than <see cref="SequenceOptions.MaxTokens"/>.</summary>
public enum LengthPolicy
{
    /// <summary>Cut it to the limit and count it (see <see cref="SequenceBuilder"/> for which tokens go).</summary>
    Truncate,
    /// <summary>Refuse the line: an error, or with <see cref="SequenceOptions.SkipBadLines"/> a counted skip.</summary>
    Refuse,
}

/// <summary>How examples become token sequences.</summary>
public sealed record SequenceOptions
{
    /// <summary>Longest sequence, BOS and EOS included (default 512).</summary>
    public int MaxTokens { get; init; } = 512;
    /// <summary>Over-length policy (default truncate).</summary>
    public LengthPolicy OverLength { get; init; } = LengthPolicy.Truncate;
    /// <summary>Exclude the prompt from the loss (default true); BOS is always excluded.</summary>
    public bool MaskPrompt { get; init; } = true;
    /// <summary>Append EOS to training sequences (default true; needs a tokenizer with an EOS id).</summary>
    public bool AddEos { get; init; } = true;
    /// <summary>Count and skip examples the tokenizer cannot encode or that <see cref="LengthPolicy.Refuse"/> refuses.</summary>
    public bool SkipBadLines { get; init; }
}

/// <summary>Training sequences of one data file plus what happened to them.</summary>
/// <param name="Task">Task name given to the builder.</param>
/// <param name="Sequences">The sequences, in file order.</param>
/// <param name="Truncated">Sequences cut to the limit.</param>
/// <param name="Skipped">Examples skipped (over the limit under <see cref="LengthPolicy.Refuse"/>, or not encodable).</param>
/// <param name="Errors">The first 20 errors behind <paramref name="Skipped"/>.</param>
public sealed record TokenizedData(string Task, IReadOnlyList<TrainingSequence> Sequences, int Truncated, int Skipped, IReadOnlyList<DataFormatException> Errors);

/// <summary>Turns examples into token sequences.
/// <list type="bullet">
/// <item>Text: <c>[BOS] text [EOS]</c>, every token but BOS learned. Truncation keeps the first MaxTokens tokens.</item>
/// <item>Prompt/completion: <c>[BOS] encode(prompt + completion) [EOS]</c>; the prompt part is the longest prefix shared
/// with <c>encode(prompt)</c> (so a tokenizer that merges across the boundary is handled), masked when
/// <see cref="SequenceOptions.MaskPrompt"/>.</item>
/// <item>Multiple choice: prompt <see cref="PromptFormat.Prompt"/>, completion <see cref="PromptFormat.Target"/> of the
/// answer (" B"); the prompt part is <see cref="MultipleChoiceItem.PromptIds"/>, so the learned token after it is exactly the
/// letter token that evaluation scores.</item>
/// </list>
/// Truncation of a prompted sequence drops prompt tokens from the left (just after BOS) so the completion survives; only
/// when the completion alone does not fit is it cut from the right. Every truncation is counted.</summary>
public static class SequenceBuilder
{
    private const int KeepErrors = 20;

    /// <summary>Builds training sequences for every example of <paramref name="data"/>; <paramref name="task"/> labels them
    /// (default: the file name without extension).</summary>
    public static TokenizedData BuildTraining(DataFile data, ITokenizer tokenizer, SequenceOptions? options = null, string? task = null)
    {
        options ??= new SequenceOptions();
        if (options.MaxTokens < 3) throw new ArgumentOutOfRangeException(nameof(options), options.MaxTokens, "MaxTokens must be at least 3");
        if (options.AddEos && tokenizer.EosId is null && data.Layout is not (DataLayout.TokenIds or DataLayout.Messages)) throw new ArgumentException($"the tokenizer ({tokenizer.Description}) has no EOS id; set AddEos = false", nameof(options));
        task ??= System.IO.Path.GetFileNameWithoutExtension(data.File);
        var sequences = new List<TrainingSequence>(data.Examples.Count);
        var errors = new List<DataFormatException>();
        int truncated = 0, skipped = 0;
        // A model without a chat template refuses the whole file at once (not line by line, even with SkipBadLines).
        ChatFormat? chat = null;
        if (data.Examples.FirstOrDefault(e => e is ConversationExample) is { } conversation)
            chat = (tokenizer as HuggingFaceTokenizer)?.Chat ?? throw NoChatTemplate(tokenizer, data.File, conversation.Line);
        foreach (DataExample example in data.Examples)
        {
            try
            {
                if (example is TokenIdsExample or ConversationExample)
                {
                    var (input, labels) = example is TokenIdsExample ti ? FromIds(ti, tokenizer, data.File, options) : FromConversation((ConversationExample)example, chat!, tokenizer, data.File, options);
                    if (input.Length > options.MaxTokens)
                    {
                        if (options.OverLength == LengthPolicy.Refuse)
                            throw new DataFormatException(data.File, example.Line, null, $"has {input.Length} tokens, more than the limit of {options.MaxTokens}; raise the limit or choose truncation");
                        (input, labels) = (input[..options.MaxTokens], labels[..options.MaxTokens]);
                        truncated++;
                    }
                    sequences.Add(new TrainingSequence(task, example.Line, input, labels));
                    continue;
                }
                var (ids, prompt) = Encode(example, tokenizer, data.File);
                var seq = Assemble(ids, prompt, tokenizer, options);
                if (seq.InputIds.Length > options.MaxTokens)
                {
                    if (options.OverLength == LengthPolicy.Refuse)
                        throw new DataFormatException(data.File, example.Line, null, $"has {seq.InputIds.Length} tokens, more than the limit of {options.MaxTokens}; raise the limit or choose truncation");
                    seq = Truncate(seq, prompt, options.MaxTokens, tokenizer.BosId is not null);
                    truncated++;
                }
                sequences.Add(new TrainingSequence(task, example.Line, seq.InputIds, seq.Labels));
            }
            catch (DataFormatException e) when (options.SkipBadLines)
            {
                skipped++;
                if (errors.Count < KeepErrors) errors.Add(e);
            }
        }
        if (sequences.Count == 0)
            throw new DataFormatException(data.File, null, null, $"yields no training sequence: all {skipped} examples were skipped (first: {errors[0].Message})");
        return new TokenizedData(task, sequences, truncated, skipped, errors);
    }

    /// <summary>Pre-tokenized data: the ids as they are, each below the vocabulary size; labels as given, else the ids.</summary>
    private static (long[] Input, long[] Labels) FromIds(TokenIdsExample ex, ITokenizer tokenizer, string file, SequenceOptions options)
    {
        for (int i = 0; i < ex.InputIds.Length; i++)
            if (ex.InputIds[i] >= tokenizer.VocabSize)
                throw new DataFormatException(file, ex.Line, "input_ids", $"entry {i} is id {ex.InputIds[i]}, outside the vocabulary of {tokenizer.VocabSize} ids");
        long[] labels = ex.Labels is null || !options.MaskPrompt ? (long[])ex.InputIds.Clone() : (long[])ex.Labels.Clone();
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= tokenizer.VocabSize)
                throw new DataFormatException(file, ex.Line, "labels", $"entry {i} is id {labels[i]}, outside the vocabulary of {tokenizer.VocabSize} ids");
        return ((long[])ex.InputIds.Clone(), labels);
    }

    /// <summary>The refusal of conversations on a model without a chat template: names the data file with the line of its
    /// first conversation, the tokenizer_config.json that lacks one (or is absent), and the two fixes.</summary>
    private static DataFormatException NoChatTemplate(ITokenizer tokenizer, string file, int line)
    {
        const string Fix = "give the checkpoint's chat_template (its tokenizer_config.json from the model's repository), or write the data as text, prompt/completion or input_ids";
        if (tokenizer is not HuggingFaceTokenizer hf)
            return new DataFormatException(file, line, null, $"is a conversation, but the model's tokenizer ({tokenizer.Description}) has no chat template; conversations need tokenizer.json with a tokenizer_config.json holding a chat_template: {Fix}");
        string config = Path.Combine(Path.GetDirectoryName(hf.SourceFile) ?? "", TokenizerConfig.FileName);
        string state = File.Exists(config) ? "has no chat_template" : "does not exist";
        return new DataFormatException(file, line, null, $"is a conversation, but {config} {state}: {Fix}");
    }

    /// <summary>A conversation through the model's chat template (<see cref="ChatFormat"/>): the rendered text is encoded
    /// without added special tokens (the template writes BOS where the model wants it, as transformers'
    /// apply_chat_template); with <see cref="SequenceOptions.MaskPrompt"/> only the assistant spans are learned. The text
    /// is encoded piecewise at the span boundaries and the pieces must give exactly the ids of the whole text, so a mask
    /// never falls inside a token.</summary>
    private static (long[] Input, long[] Labels) FromConversation(ConversationExample ex, ChatFormat chat, ITokenizer tokenizer, string file, SequenceOptions options)
    {
        string text;
        IReadOnlyList<(int Start, int End)> spans;
        try { (text, spans) = chat.RenderWithAssistantSpans(ex.Messages); }
        catch (Templates.TemplateRaisedException e) { throw new DataFormatException(file, ex.Line, null, $"is refused by the chat template: {e.TemplateMessage}"); }
        catch (InvalidOperationException e) { throw new DataFormatException(file, ex.Line, null, $"{e.Message}; use --no-mask-prompt to learn every token"); }
        IReadOnlyList<int> whole = EncodeLine(tokenizer, text, file, ex.Line);
        var input = whole.Select(i => (long)i).ToArray();
        if (!options.MaskPrompt) return (input, (long[])input.Clone());
        var labels = new long[input.Length];
        int at = 0, position = 0;
        foreach (var (start, end) in spans.Append((text.Length, text.Length)))
        {
            foreach (var (from, to, learned) in new[] { (position, start, false), (start, end, true) })
            {
                if (to <= from) continue;
                foreach (int id in EncodeLine(tokenizer, text[from..to], file, ex.Line))
                {
                    if (at >= input.Length || input[at] != id)
                        throw new DataFormatException(file, ex.Line, null, "the tokens of the rendered conversation run across the start or end of an assistant turn, so the turn cannot be masked exactly; use --no-mask-prompt to learn every token");
                    labels[at++] = learned ? id : TrainingSequence.IgnoreIndex;
                }
            }
            position = end;
        }
        if (at != input.Length)
            throw new DataFormatException(file, ex.Line, null, "the tokens of the rendered conversation run across the start or end of an assistant turn, so the turn cannot be masked exactly; use --no-mask-prompt to learn every token");
        return (input, labels);
    }

    /// <summary>Tokenises the multiple-choice examples of <paramref name="data"/> for evaluation. Over-long contexts are
    /// cut from the left (after BOS) under <see cref="LengthPolicy.Truncate"/>, refused under
    /// <see cref="LengthPolicy.Refuse"/>.</summary>
    public static IReadOnlyList<MultipleChoiceItem> BuildEvaluation(DataFile data, ITokenizer tokenizer, SequenceOptions? options = null, string? task = null)
    {
        options ??= new SequenceOptions();
        if (!DataLayouts.IsMultipleChoice(data.Layout)) throw new ArgumentException($"{data.File} has the {data.Layout} layout; evaluation needs multiple-choice items", nameof(data));
        task ??= System.IO.Path.GetFileNameWithoutExtension(data.File);
        var items = new List<MultipleChoiceItem>(data.Examples.Count);
        foreach (MultipleChoiceExample ex in data.Examples.Cast<MultipleChoiceExample>())
        {
            var (prefix, letters) = LetterSplit(ex, tokenizer, data.File);
            string context = PromptFormat.LikelihoodContext(ex);
            IReadOnlyList<int> contextIds = EncodeLine(tokenizer, context, data.File, ex.Line);
            var fulls = ex.Options.Select(o => EncodeLine(tokenizer, context + PromptFormat.LikelihoodContinuation(o), data.File, ex.Line)).ToArray();
            int shared = fulls.Min(f => CommonPrefix(f, contextIds));
            var continuations = fulls.Select(f => f.Skip(shared).Select(i => (long)i).ToArray()).ToArray();
            if (continuations.Any(c => c.Length == 0))
                throw new DataFormatException(data.File, ex.Line, null, "has an option that adds no token to the context");
            long[] promptIds = WithBos(tokenizer, prefix);
            long[] ctxIds = WithBos(tokenizer, contextIds.Take(shared));
            int longestContinuation = continuations.Max(c => c.Length);
            if (promptIds.Length + 1 > options.MaxTokens || ctxIds.Length + longestContinuation > options.MaxTokens)
            {
                if (options.OverLength == LengthPolicy.Refuse)
                    throw new DataFormatException(data.File, ex.Line, null, $"needs {Math.Max(promptIds.Length + 1, ctxIds.Length + longestContinuation)} tokens, more than the limit of {options.MaxTokens}");
                promptIds = CutLeft(promptIds, options.MaxTokens - 1, tokenizer.BosId is not null);
                ctxIds = CutLeft(ctxIds, Math.Max(1, options.MaxTokens - longestContinuation), tokenizer.BosId is not null);
            }
            items.Add(new MultipleChoiceItem(task, ex.Line, ex.Answer, promptIds, letters.Select(l => (long)l).ToArray(), ctxIds, continuations,
                ex.Options.Select(o => PromptFormat.LikelihoodContinuation(o).Length).ToArray()));
        }
        return items;
    }

    /// <summary>Mixes several tasks' sequences for multi-task training: all sequences, shuffled with a seeded
    /// Fisher-Yates shuffle (same seed, same order).</summary>
    public static IReadOnlyList<TrainingSequence> Mix(IEnumerable<TokenizedData> tasks, int seed)
    {
        var all = tasks.SelectMany(t => t.Sequences).ToArray();
        var rng = new Random(seed);
        for (int i = all.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (all[i], all[j]) = (all[j], all[i]);
        }
        return all;
    }

    /// <summary>The letter tokens of an item: the shared prefix of "prompt + ' ' + letter" over all letters, and the token
    /// after it for each letter.</summary>
    private static (IReadOnlyList<int> Prefix, int[] Letters) LetterSplit(MultipleChoiceExample ex, ITokenizer tokenizer, string file)
    {
        string prompt = PromptFormat.Prompt(ex);
        var fulls = Enumerable.Range(0, ex.Options.Count).Select(i => EncodeLine(tokenizer, prompt + PromptFormat.Target(i), file, ex.Line)).ToArray();
        int shared = int.MaxValue;
        for (int i = 1; i < fulls.Length; i++) shared = Math.Min(shared, CommonPrefix(fulls[0], fulls[i]));
        var letters = new int[fulls.Length];
        for (int i = 0; i < fulls.Length; i++)
        {
            if (fulls[i].Count <= shared) throw new DataFormatException(file, ex.Line, null, $"the tokenizer ({tokenizer.Description}) gives option letter {PromptFormat.Letter(i)} no token of its own after the prompt");
            letters[i] = fulls[i][shared];
        }
        if (letters.Distinct().Count() != letters.Length)
            throw new DataFormatException(file, ex.Line, null, $"the tokenizer ({tokenizer.Description}) does not give each option letter a distinct first token");
        return (fulls[0].Take(shared).ToArray(), letters);
    }

    private static (IReadOnlyList<int> Ids, int PromptTokens) Encode(DataExample example, ITokenizer tokenizer, string file)
    {
        switch (example)
        {
            case TextExample t:
                return (EncodeLine(tokenizer, t.Text, file, t.Line), 0);
            case PromptCompletionExample pc:
            {
                IReadOnlyList<int> full = EncodeLine(tokenizer, pc.Prompt + pc.Completion, file, pc.Line);
                int prompt = CommonPrefix(full, EncodeLine(tokenizer, pc.Prompt, file, pc.Line));
                if (prompt == full.Count) throw new DataFormatException(file, pc.Line, "completion", "adds no token to the prompt");
                return (full, prompt);
            }
            case MultipleChoiceExample mc:
            {
                var (prefix, _) = LetterSplit(mc, tokenizer, file);
                IReadOnlyList<int> full = EncodeLine(tokenizer, PromptFormat.Prompt(mc) + PromptFormat.Target(mc.Answer), file, mc.Line);
                return (full, prefix.Count);
            }
            default:
                throw new ArgumentException($"unknown example type {example.GetType().Name}", nameof(example));
        }
    }

    private static (long[] InputIds, long[] Labels) Assemble(IReadOnlyList<int> ids, int promptTokens, ITokenizer tokenizer, SequenceOptions options)
    {
        int bos = tokenizer.BosId is null ? 0 : 1;
        int eos = options.AddEos ? 1 : 0;
        var input = new long[bos + ids.Count + eos];
        var labels = new long[input.Length];
        if (bos == 1) { input[0] = tokenizer.BosId!.Value; labels[0] = TrainingSequence.IgnoreIndex; }
        for (int i = 0; i < ids.Count; i++)
        {
            input[bos + i] = ids[i];
            labels[bos + i] = options.MaskPrompt && i < promptTokens ? TrainingSequence.IgnoreIndex : ids[i];
        }
        if (eos == 1) { input[^1] = tokenizer.EosId!.Value; labels[^1] = tokenizer.EosId.Value; }
        return (input, labels);
    }

    private static (long[] InputIds, long[] Labels) Truncate((long[] InputIds, long[] Labels) seq, int promptTokens, int max, bool hasBos)
    {
        int excess = seq.InputIds.Length - max;
        int keepHead = hasBos ? 1 : 0;
        int dropFromPrompt = Math.Min(excess, promptTokens);
        IEnumerable<int> kept = Enumerable.Range(0, seq.InputIds.Length).Where(i => i < keepHead || i >= keepHead + dropFromPrompt);
        int[] index = kept.Take(max).ToArray();
        return (index.Select(i => seq.InputIds[i]).ToArray(), index.Select(i => seq.Labels[i]).ToArray());
    }

    private static long[] CutLeft(long[] ids, int max, bool keepBos)
    {
        if (ids.Length <= max) return ids;
        return keepBos ? ids.Take(1).Concat(ids.Skip(ids.Length - (max - 1))).ToArray() : ids.Skip(ids.Length - max).ToArray();
    }

    private static long[] WithBos(ITokenizer tokenizer, IEnumerable<int> ids)
        => (tokenizer.BosId is int bos ? new[] { bos }.Concat(ids) : ids).Select(i => (long)i).ToArray();

    private static IReadOnlyList<int> EncodeLine(ITokenizer tokenizer, string text, string file, int line)
    {
        try { return tokenizer.Encode(text); }
        catch (ArgumentException e) { throw new DataFormatException(file, line, null, $"cannot be tokenised: {e.Message.Split(" (Parameter", 2)[0]}"); }
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = Math.Min(a.Count, b.Count), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}
