using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Runtime.Api;

/// <summary>Data to fine-tune or evaluate on, in any layout the data layer reads: JSONL files of every
/// <see cref="DataLayout"/> (through <see cref="JsonlReader"/>), examples built in code, or sequences already tokenised.
/// Several parts are trained on mixed (<see cref="Mix"/>), as <c>moedsl train</c> mixes several <c>--data</c> files.
/// Text is tokenised when training starts, with the model's tokenizer (<see cref="Modeling.MoeCausalLM.Tokenizer"/>),
/// by the same <see cref="SequenceBuilder"/> the command line uses.</summary>
public sealed class TrainingData
{
    private readonly IReadOnlyList<Part> parts;

    private TrainingData(IReadOnlyList<Part> parts) => this.parts = parts;

    /// <summary>One file or one in-memory set: either examples to tokenise or sequences already tokenised.</summary>
    private sealed record Part(string Task, DataFile? File, IReadOnlyList<TrainingSequence>? Sequences);

    /// <summary>The task label of each part, in order (a JSONL file's is its file name without extension).</summary>
    public IReadOnlyList<string> Tasks => parts.Select(p => p.Task).ToArray();

    /// <summary>True when a part holds text, which needs the model's tokenizer.</summary>
    public bool NeedsTokenizer => parts.Any(p => p.File is not null);

    /// <summary>Reads a JSONL file of the given layout (one line per example; see <see cref="JsonlReader"/>). A malformed
    /// line is a <see cref="DataFormatException"/> naming the file and line, unless <paramref name="read"/> skips bad lines.</summary>
    public static TrainingData FromJsonl(string path, DataLayout layout, JsonlReadOptions? read = null)
        => FromFile(JsonlReader.Read(path, layout, read));

    /// <summary>Reads a JSONL file whose layout is given by its task name, as <c>moedsl train --task</c> takes it
    /// (<c>text</c>, <c>prompt-completion</c>, <c>arc</c>, ...; <see cref="DataLayouts.TaskNames"/>).</summary>
    public static TrainingData FromJsonl(string path, string task, JsonlReadOptions? read = null)
        => FromJsonl(path, DataLayouts.Parse(task), read);

    /// <summary>A data file already read (<see cref="JsonlReader.Read"/>); <paramref name="task"/> labels it (default: the
    /// file name without extension).</summary>
    public static TrainingData FromFile(DataFile file, string? task = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        return new(new[] { new Part(task ?? Path.GetFileNameWithoutExtension(file.File), file, null) });
    }

    /// <summary>Examples built in code, of one layout (<see cref="TextExample"/>, <see cref="PromptCompletionExample"/>,
    /// <see cref="MultipleChoiceExample"/> for the multiple-choice layouts).</summary>
    public static TrainingData FromExamples(string task, DataLayout layout, IEnumerable<DataExample> examples)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(examples);
        var list = examples.ToList();
        if (list.Count == 0) throw new ArgumentException($"task '{task}' has no examples", nameof(examples));
        return FromFile(new DataFile(task, layout, list, 0, Array.Empty<DataFormatException>()), task);
    }

    /// <summary>Plain texts for language modelling (every token learned).</summary>
    public static TrainingData FromTexts(IEnumerable<string> texts, string task = "text")
        => FromExamples(task, DataLayout.Text, (texts ?? throw new ArgumentNullException(nameof(texts))).Select((t, i) => (DataExample)new TextExample(i + 1, t)));

    /// <summary>Prompt/completion pairs (the prompt is masked from the loss unless
    /// <see cref="FineTuneOptions.MaskPrompt"/> is false).</summary>
    public static TrainingData FromPromptCompletions(IEnumerable<(string Prompt, string Completion)> pairs, string task = "prompt-completion")
        => FromExamples(task, DataLayout.PromptCompletion,
            (pairs ?? throw new ArgumentNullException(nameof(pairs))).Select((p, i) => (DataExample)new PromptCompletionExample(i + 1, p.Prompt, p.Completion)));

    /// <summary>Sequences already tokenised (ids and labels, -100 where not learned); no tokenizer is needed.</summary>
    public static TrainingData FromSequences(IEnumerable<TokenSequence> sequences, string task = "tokens")
        => FromSequences((sequences ?? throw new ArgumentNullException(nameof(sequences))).Select((s, i) => new TrainingSequence(task, i + 1, s.Ids, s.Labels)), task);

    /// <summary>Sequences built by <see cref="SequenceBuilder"/> (or by hand); no tokenizer is needed.</summary>
    public static TrainingData FromSequences(IEnumerable<TrainingSequence> sequences, string task = "tokens")
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var list = sequences.ToList();
        if (list.Count == 0) throw new ArgumentException($"task '{task}' has no sequences", nameof(sequences));
        return new(new[] { new Part(task, null, list) });
    }

    /// <summary>Several parts trained on together: their sequences are shuffled into one pool with the run's seed.</summary>
    public static TrainingData Mix(params TrainingData[] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Length == 0) throw new ArgumentException("Mix needs at least one part", nameof(parts));
        return new(parts.SelectMany(p => (p ?? throw new ArgumentNullException(nameof(parts))).parts).ToArray());
    }

    /// <summary>Each part as token sequences: text through <see cref="SequenceBuilder.BuildTraining"/> with
    /// <paramref name="tokenizer"/> (required when <see cref="NeedsTokenizer"/>), tokenised parts as they are.</summary>
    public IReadOnlyList<TokenizedData> Tokenize(ITokenizer? tokenizer, SequenceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (NeedsTokenizer && tokenizer is null)
            throw new InvalidOperationException($"the data ({string.Join(", ", parts.Where(p => p.File is not null).Select(p => p.Task))}) is text and the model has no tokenizer: "
                                                + "put tokenizer.json (or char_tokenizer.json) in the model folder, set the model's Tokenizer, or give token sequences");
        return parts.Select(p => p.File is null
                ? new TokenizedData(p.Task, p.Sequences!, 0, 0, Array.Empty<DataFormatException>())
                : SequenceBuilder.BuildTraining(p.File, tokenizer!, options, p.Task))
            .ToArray();
    }

    /// <summary>The training pool: every part's sequences shuffled together with <paramref name="seed"/>
    /// (<see cref="SequenceBuilder.Mix"/>).</summary>
    public IReadOnlyList<TokenSequence> Pool(ITokenizer? tokenizer, SequenceOptions options, int seed)
        => SequenceBuilder.Mix(Tokenize(tokenizer, options), seed).Select(TokenSequence.Of).ToArray();

    /// <summary>The multiple-choice parts (for accuracy), with their task labels.</summary>
    internal IEnumerable<(string Task, DataFile File)> MultipleChoiceFiles
        => parts.Where(p => p.File is not null && DataLayouts.IsMultipleChoice(p.File.Layout)).Select(p => (p.Task, p.File!));
}
