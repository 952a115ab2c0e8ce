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

/// <summary>One turn of a conversation; <see cref="Role"/> is "system", "user", "assistant" or "tool" (ShareGPT's
/// "human"/"gpt" are mapped to "user"/"assistant").</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>A conversation, rendered through the model's chat template; the assistant turns are what is learned.</summary>
public sealed record ConversationExample(int Line, IReadOnlyList<ChatMessage> Messages) : DataExample(Line);

/// <summary>Pre-tokenized data: ids used as they are (no BOS/EOS added); <see cref="Labels"/> null means every token is
/// learned, else it has the length of <see cref="InputIds"/> with -100 where a token is not learned.</summary>
public sealed record TokenIdsExample(int Line, long[] InputIds, long[]? Labels) : DataExample(Line);
