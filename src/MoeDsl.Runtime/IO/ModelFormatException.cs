using System;

namespace MoeDsl.Runtime.IO;

/// <summary>A file the runtime was given is not what it must be. Names the file, the field or tensor, and what was expected.</summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>Creates the error.</summary>
    public ModelFormatException(string file, string? item, string problem)
        : base(item is null ? $"{file}: {problem}" : $"{file}: '{item}' {problem}")
    {
        File = file;
        Item = item;
        Problem = problem;
    }

    /// <summary>The file.</summary>
    public string File { get; }
    /// <summary>The field, tensor or line at fault, if any.</summary>
    public string? Item { get; }
    /// <summary>What is wrong and what was expected.</summary>
    public string Problem { get; }
}
