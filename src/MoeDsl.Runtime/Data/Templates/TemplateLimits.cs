namespace MoeDsl.Runtime.Data.Templates;

/// <summary>Bounds on one template: a chat template comes with a downloaded checkpoint, so it is untrusted input. Each
/// limit, when passed, is a <see cref="TemplateException"/> naming it.</summary>
public sealed record TemplateLimits
{
    /// <summary>Longest template source, in characters.</summary>
    public int MaxSourceChars { get; init; } = 1_000_000;
    /// <summary>Deepest nesting of blocks and expressions (bounds the parser's and the evaluator's recursion).</summary>
    public int MaxDepth { get; init; } = 64;
    /// <summary>Most loop iterations in one rendering, all loops together.</summary>
    public int MaxLoopIterations { get; init; } = 100_000;
    /// <summary>Longest output, and longest string or list any expression may build, in characters or items.</summary>
    public int MaxOutputChars { get; init; } = 4_000_000;
}
