using System;

namespace MoeDsl.Runtime.IO;

/// <summary>A file the runtime was given is not what it must be. Names the file, the field or tensor, and what was expected.
/// This is the one error family for refused inputs: model files (safetensors, shard index, config.json) throw it directly,
/// data files throw the derived <see cref="MoeDsl.Runtime.Data.DataFormatException"/>, which adds the line number.</summary>
public class ModelFormatException : Exception
{
    /// <summary>Creates the error.</summary>
    public ModelFormatException(string file, string? item, string problem)
        : this(file, item, problem, item is null ? $"{file}: {problem}" : $"{file}: '{item}' {problem}")
    {
    }

    /// <summary>Creates the error with a message composed by a derived type.</summary>
    protected ModelFormatException(string file, string? item, string problem, string message)
        : base(message)
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
