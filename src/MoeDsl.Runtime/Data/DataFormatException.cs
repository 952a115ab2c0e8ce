using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>A data file is malformed: names the file, the 1-based line (null when the whole file is at fault) and the
/// JSON field. Derives from <see cref="ModelFormatException"/>, so one <c>catch</c> handles every refused input;
/// <see cref="ModelFormatException.Item"/> reads "line N" or "line N, field 'F'".
/// The message has the compiler-style form <c>file:N: field 'F' problem</c>.</summary>
public sealed class DataFormatException : ModelFormatException
{
    /// <summary>Creates the error.</summary>
    public DataFormatException(string file, int? line, string? field, string problem)
        : base(file, Describe(line, field), problem, Compose(file, line, field, problem))
    {
        Line = line;
        Field = field;
    }

    /// <summary>The 1-based line, or null when the problem is the whole file (e.g. empty).</summary>
    public int? Line { get; }
    /// <summary>The JSON field at fault, if any.</summary>
    public string? Field { get; }

    private static string? Describe(int? line, string? field)
        => line is null ? (field is null ? null : $"field '{field}'") : field is null ? $"line {line}" : $"line {line}, field '{field}'";

    private static string Compose(string file, int? line, string? field, string problem)
        => (line is null ? file + ": " : $"{file}:{line}: ") + (field is null ? problem : $"field '{field}' {problem}");
}
