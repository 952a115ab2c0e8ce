using System.Collections.Generic;

namespace MoeDsl.Runtime.Data;

/// <summary>One usable line of a data file, normalised from its layout. <see cref="Line"/> is 1-based.</summary>
public abstract record DataExample(int Line);

/// <summary>Plain text for language modelling.</summary>
public sealed record TextExample(int Line, string Text) : DataExample(Line);

/// <summary>A prompt and the completion the model should learn to produce.</summary>
public sealed record PromptCompletionExample(int Line, string Prompt, string Completion) : DataExample(Line);

/// <summary>A multiple-choice item: <see cref="Question"/> holds all context (BoolQ's passage, SIQA's context come first,
/// on their own line), <see cref="Options"/> has 2..26 non-empty entries, <see cref="Answer"/> is the 0-based index of the
/// correct option.</summary>
public sealed record MultipleChoiceExample(int Line, string Question, IReadOnlyList<string> Options, int Answer) : DataExample(Line);
