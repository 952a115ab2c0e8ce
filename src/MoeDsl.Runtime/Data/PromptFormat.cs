using System;
using System.Text;

namespace MoeDsl.Runtime.Data;

/// <summary>How examples become text. Exactly:
/// <code>
/// {Question}\n
/// A. {Options[0]}\n
/// B. {Options[1]}\n
/// ...
/// Answer:
/// </code>
/// (lines joined with "\n", no trailing newline), and the training target is <c>" " + letter</c>, e.g. <c>" B"</c>.
/// For full-option log-likelihood scoring (lm-evaluation-harness style) the context is <c>{Question}\nAnswer:</c>
/// and each option's continuation is <c>" " + option</c>.</summary>
public static class PromptFormat
{
    /// <summary>Most options an item may have (one letter each).</summary>
    public const int MaxOptions = 26;

    /// <summary>The letter of option <paramref name="index"/>: 0 -> "A".</summary>
    public static string Letter(int index)
    {
        if (index < 0 || index >= MaxOptions) throw new ArgumentOutOfRangeException(nameof(index), index, $"option index must be 0..{MaxOptions - 1}");
        return ((char)('A' + index)).ToString();
    }

    /// <summary>The lettered prompt ending with "Answer:".</summary>
    public static string Prompt(MultipleChoiceExample example)
    {
        var sb = new StringBuilder(example.Question);
        for (int i = 0; i < example.Options.Count; i++) sb.Append('\n').Append(Letter(i)).Append(". ").Append(example.Options[i]);
        return sb.Append("\nAnswer:").ToString();
    }

    /// <summary>The completion that names option <paramref name="index"/>: a space and its letter (" A").</summary>
    public static string Target(int index) => " " + Letter(index);

    /// <summary>The context for log-likelihood scoring: <c>{Question}\nAnswer:</c>.</summary>
    public static string LikelihoodContext(MultipleChoiceExample example) => example.Question + "\nAnswer:";

    /// <summary>The continuation scored for an option: a space and the option text.</summary>
    public static string LikelihoodContinuation(string option) => " " + option;

    /// <summary>Stanford Alpaca's prompt (its train.py PROMPT_DICT): with an input,
    /// <c>"Below is an instruction that describes a task, paired with an input that provides further context. Write a
    /// response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n###
    /// Response:\n"</c>; without (or with an empty one) the same without the input part and with "Below is an instruction
    /// that describes a task. Write a response that appropriately completes the request.". The output is the
    /// completion.</summary>
    public static string Alpaca(string instruction, string? input)
        => string.IsNullOrEmpty(input)
            ? "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                + $"### Instruction:\n{instruction}\n\n### Response:\n"
            : "Below is an instruction that describes a task, paired with an input that provides further context. "
                + "Write a response that appropriately completes the request.\n\n"
                + $"### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
}
