using System.Collections.Generic;

namespace MoeDsl.Runtime.Data;

/// <summary>One tokenised training sequence, Hugging Face style: <see cref="Labels"/> has the length of
/// <see cref="InputIds"/> and is NOT shifted — <c>Labels[i]</c> is the token at position i, and the loss compares the
/// logits at position i-1 with it (so <c>Labels[0]</c> is never a target). Positions that must not be learned (BOS, and
/// the prompt when it is masked) hold <see cref="IgnoreIndex"/>.</summary>
/// <param name="Task">The task (data file) it came from.</param>
/// <param name="Line">Its 1-based line in that file.</param>
/// <param name="InputIds">Token ids, BOS first (when the tokenizer has one), EOS last unless truncated away.</param>
/// <param name="Labels">Targets, <see cref="IgnoreIndex"/> where masked.</param>
public sealed record TrainingSequence(string Task, int Line, long[] InputIds, long[] Labels)
{
    /// <summary>Label of a position that is not learned (PyTorch's cross-entropy ignore_index default).</summary>
    public const long IgnoreIndex = -100;
}

/// <summary>A multiple-choice item tokenised for both evaluation styles.</summary>
/// <param name="Task">The task (data file) it came from.</param>
/// <param name="Line">Its 1-based line.</param>
/// <param name="Answer">0-based index of the correct option.</param>
/// <param name="PromptIds">Label-token scoring context: BOS + the lettered prompt up to (and including) the last token
/// that all "prompt + ' ' + letter" encodings share; the next-token logits here are compared at
/// <see cref="LetterIds"/>.</param>
/// <param name="LetterIds">One token id per option: the token that follows <see cref="PromptIds"/> in
/// "prompt + ' ' + letter" (distinct per option).</param>
/// <param name="ContextIds">Log-likelihood context: BOS + "{Question}\nAnswer:" (up to the tokens all options share).</param>
/// <param name="ContinuationIds">Per option, the tokens after <see cref="ContextIds"/> in "context + ' ' + option".</param>
/// <param name="ContinuationLengths">Per option, the character length of " " + option (lm-evaluation-harness's
/// acc_norm divides the log-likelihood by it).</param>
public sealed record MultipleChoiceItem(
    string Task, int Line, int Answer,
    long[] PromptIds, long[] LetterIds,
    long[] ContextIds, IReadOnlyList<long[]> ContinuationIds, int[] ContinuationLengths);
