using System;
using System.Collections.Generic;
using System.Linq;

namespace MoeDsl.Runtime.Data;

/// <summary>The JSONL field layouts the reader understands (selected with <c>--task NAME</c>, see <see cref="DataLayouts.Parse"/>).</summary>
public enum DataLayout
{
    /// <summary><c>{"text": "..."}</c> — plain language-model text.</summary>
    Text,
    /// <summary><c>{"prompt": "...", "completion": "..."}</c>.</summary>
    PromptCompletion,
    /// <summary><c>{"question": "...", "choices": ["...", ...], "answer": 0 | "B" | "option text"}</c>.</summary>
    MultipleChoice,
    /// <summary>ARC-Easy / ARC-Challenge as published on the Hugging Face hub (allenai/ai2_arc):
    /// <c>question</c>, <c>choices {text: [...], label: [...]}</c>, <c>answerKey</c> (one of the labels).</summary>
    Arc,
    /// <summary>BoolQ (google/boolq): <c>question</c>, <c>passage</c>, <c>answer</c> (true/false). Options: "yes", "no".</summary>
    BoolQ,
    /// <summary>OpenBookQA (allenai/openbookqa): <c>question_stem</c>, <c>choices {text, label}</c>, <c>answerKey</c>.</summary>
    OpenBookQA,
    /// <summary>PIQA: <c>goal</c>, <c>sol1</c>, <c>sol2</c>, <c>label</c> (0 or 1).</summary>
    Piqa,
    /// <summary>Social IQa: <c>context</c>, <c>question</c>, <c>answerA</c>..<c>answerC</c>, <c>label</c> ("1".."3").</summary>
    Siqa,
    /// <summary>HellaSwag: <c>ctx</c>, <c>endings</c> (4 strings), <c>label</c> ("0".."3").</summary>
    HellaSwag,
    /// <summary>WinoGrande: <c>sentence</c> (with a blank "_"), <c>option1</c>, <c>option2</c>, <c>answer</c> ("1" or "2").</summary>
    WinoGrande,
    /// <summary>Conversations: OpenAI <c>{"messages": [{"role": "user", "content": "..."}, ...]}</c> or ShareGPT
    /// <c>{"conversations": [{"from": "human", "value": "..."}, ...]}</c>, rendered through the model's chat template.</summary>
    Messages,
    /// <summary>Alpaca: <c>instruction</c>, optional <c>input</c>, <c>output</c> (Stanford Alpaca's prompt, see
    /// <see cref="PromptFormat.Alpaca"/>).</summary>
    Alpaca,
    /// <summary>Pre-tokenized: <c>input_ids</c> (token ids), optional <c>labels</c> of the same length (-100 = not learned).</summary>
    TokenIds,
}

/// <summary>Task names for <see cref="DataLayout"/>.</summary>
public static class DataLayouts
{
    private static readonly (string Name, DataLayout Layout)[] Names =
    {
        ("text", DataLayout.Text),
        ("prompt-completion", DataLayout.PromptCompletion), ("completion", DataLayout.PromptCompletion),
        ("multiple-choice", DataLayout.MultipleChoice), ("mc", DataLayout.MultipleChoice),
        ("arc", DataLayout.Arc), ("arc-e", DataLayout.Arc), ("arc-c", DataLayout.Arc), ("arc_easy", DataLayout.Arc), ("arc_challenge", DataLayout.Arc),
        ("boolq", DataLayout.BoolQ),
        ("obqa", DataLayout.OpenBookQA), ("openbookqa", DataLayout.OpenBookQA),
        ("piqa", DataLayout.Piqa),
        ("siqa", DataLayout.Siqa), ("social_i_qa", DataLayout.Siqa),
        ("hellaswag", DataLayout.HellaSwag),
        ("winogrande", DataLayout.WinoGrande),
        ("messages", DataLayout.Messages), ("sharegpt", DataLayout.Messages), ("chat", DataLayout.Messages),
        ("alpaca", DataLayout.Alpaca),
        ("tokens", DataLayout.TokenIds), ("input-ids", DataLayout.TokenIds), ("pretokenized", DataLayout.TokenIds),
    };

    /// <summary>Every accepted task name (case-insensitive).</summary>
    public static IReadOnlyList<string> TaskNames { get; } = Names.Select(n => n.Name).ToArray();

    /// <summary>The layout of a task name (case-insensitive); <see cref="ArgumentException"/> listing the names otherwise.</summary>
    public static DataLayout Parse(string task)
    {
        foreach (var (name, layout) in Names)
            if (string.Equals(name, task, StringComparison.OrdinalIgnoreCase)) return layout;
        throw new ArgumentException($"unknown task '{task}'; known: {string.Join(", ", TaskNames)}", nameof(task));
    }

    /// <summary>Whether examples of the layout are <see cref="MultipleChoiceExample"/>s.</summary>
    public static bool IsMultipleChoice(DataLayout layout)
        => layout is not (DataLayout.Text or DataLayout.PromptCompletion or DataLayout.Messages or DataLayout.Alpaca or DataLayout.TokenIds);

    /// <summary>The fields a line of the layout must have, for error messages.</summary>
    public static string Fields(DataLayout layout) => layout switch
    {
        DataLayout.Text => "text",
        DataLayout.PromptCompletion => "prompt, completion",
        DataLayout.MultipleChoice => "question, choices [...], answer (0-based index, letter or option text)",
        DataLayout.Arc => "question, choices {text [...], label [...]}, answerKey",
        DataLayout.BoolQ => "question, passage, answer (true/false)",
        DataLayout.OpenBookQA => "question_stem, choices {text [...], label [...]}, answerKey",
        DataLayout.Piqa => "goal, sol1, sol2, label (0 or 1)",
        DataLayout.Siqa => "context, question, answerA, answerB, answerC, label (\"1\"..\"3\")",
        DataLayout.HellaSwag => "ctx, endings [...], label (\"0\"..)",
        DataLayout.WinoGrande => "sentence, option1, option2, answer (\"1\" or \"2\")",
        DataLayout.Messages => "messages [{role, content}, ...] or conversations [{from, value}, ...]",
        DataLayout.Alpaca => "instruction, input (optional), output",
        DataLayout.TokenIds => "input_ids [...], labels [...] (optional, -100 = not learned)",
        _ => throw new ArgumentOutOfRangeException(nameof(layout)),
    };
}
