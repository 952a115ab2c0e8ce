using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using MoeDsl.Runtime.Declarations.Diagnostics;
using MoeDsl.Runtime.Declarations.Model;
using MoeDsl.Runtime.Declarations.Validation;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;

namespace MoeDsl.Runtime.Declarations;

/// <summary>One finding about a declaration spec: the rule's id (the generator's catalog, docs/diagnostics.md), error,
/// warning or info, the JSON field it is about (<c>Router.TopK</c>; empty for the whole spec) and the message, which is
/// the generator's message for the same mistake in C#.</summary>
/// <param name="Id">Rule id, e.g. MOE021.</param>
/// <param name="Severity">"error", "warning" or "info".</param>
/// <param name="Field">JSON field path; empty for the spec as a whole.</param>
/// <param name="Message">The rule's message with its values.</param>
/// <param name="File">The spec file as given.</param>
public sealed record SpecDiagnostic(string Id, string Severity, string Field, string Message, string File)
{
    /// <summary>One line: <c>spec.json: Router.TopK: error MOE021: Top-k 6 exceeds ...</c>.</summary>
    public override string ToString() => Field.Length == 0 ? $"{File}: {Severity} {Id}: {Message}" : $"{File}: {Field}: {Severity} {Id}: {Message}";
}

/// <summary>A declaration spec with errors. <see cref="Exception.Message"/> is one line (the first error and how many
/// more); <see cref="Errors"/> has each.</summary>
public sealed class DeclarationSpecException : Exception
{
    /// <summary>Creates the exception for <paramref name="errors"/> (at least one).</summary>
    public DeclarationSpecException(IReadOnlyList<SpecDiagnostic> errors)
        : base(errors.Count == 0 ? "invalid declaration spec" : errors[0] + (errors.Count > 1 ? $" (and {errors.Count - 1} more error(s))" : ""))
    {
        Errors = errors;
    }

    /// <summary>Every error, one line each.</summary>
    public IReadOnlyList<SpecDiagnostic> Errors { get; }
}

/// <summary>The outcome of checking a spec: the declaration (null when there are errors) and every finding.</summary>
/// <param name="Spec">The declaration as the runtime builds it; null when <paramref name="Diagnostics"/> has an error.</param>
/// <param name="Diagnostics">Errors, warnings and infos, in the order found.</param>
public sealed record DeclarationSpecResult(ModelSpec? Spec, IReadOnlyList<SpecDiagnostic> Diagnostics)
{
    /// <summary>The errors among <see cref="Diagnostics"/>.</summary>
    public IEnumerable<SpecDiagnostic> Errors => Diagnostics.Where(d => d.Severity == "error");
}

/// <summary>Declarations without C#: a JSON file whose fields are the attributes' (see docs/declaration-specs.md),
/// checked by the generator's own validator (the same rules, ids and messages; the rule source is compiled into this
/// assembly) and turned into the <see cref="ModelSpec"/> the generated class would carry, so <see cref="SpecModel"/> and
/// every verb build it as they build a declared class. A ConfigFile is resolved relative to the spec's folder.</summary>
public static class DeclarationSpec
{
    /// <summary>Largest spec file read (a declaration is a few hundred bytes).</summary>
    public const long MaxFileBytes = 1_000_000;

    /// <summary>Reads and checks <paramref name="path"/>; throws <see cref="DeclarationSpecException"/> naming each error
    /// (the file, the field, the rule id and the message).</summary>
    public static ModelSpec Load(string path)
    {
        DeclarationSpecResult result = Check(path);
        return result.Spec ?? throw new DeclarationSpecException(result.Errors.ToList());
    }

    /// <summary>Reads and checks <paramref name="path"/>: the declaration and every error, warning and info.</summary>
    public static DeclarationSpecResult Check(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxFileBytes)
                return Failed(path, $"the file is {info.Length} bytes; a declaration spec is at most {MaxFileBytes}");
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return Failed(path, "cannot be read: " + e.Message);
        }
        return Check(text, path);
    }

    /// <summary>Checks the spec <paramref name="json"/>; <paramref name="path"/> names it in messages, its folder is where a
    /// relative ConfigFile is looked for, and its file name is the model's name when the spec gives none.</summary>
    public static DeclarationSpecResult Check(string json, string path)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            return Failed(path, e.Message);
        }
        using (document)
        {
            // JSON allows a \u escape that is a lone UTF-16 surrogate; System.Text.Json parses it and throws when the string
            // is read. Refuse it here, naming where, before anything reads a name or a string.
            if (LoneSurrogate(document.RootElement, "") is string at)
                return Failed(path, $"{(at.Length == 0 ? "a string" : at)} holds a \\u escape that is a lone UTF-16 surrogate (half of a pair); write the character itself or the whole pair");
            var reader = new SpecReader();
            ParsedDeclaration? declaration = reader.Read(document.RootElement, Path.GetFileNameWithoutExtension(path));
            var found = reader.Diagnostics.ToList();
            if (declaration is null) return Result(null, found, path);
            AnalysisResult analysis = Validator.Analyze(declaration, ConfigFiles(declaration, path), new RuntimeInfo(true, true, true, true, true), CancellationToken.None);
            found.AddRange(analysis.Diagnostics);
            bool failed = found.Any(d => d.Descriptor.Severity == RuleSeverity.Error);
            return Result(failed ? null : ToSpec(analysis.Model!), found, path);
        }
    }

    /// <summary>The config.json a BaseModel.ConfigFile names, read from the spec's folder, as the one "additional file".</summary>
    private static AdditionalFiles ConfigFiles(ParsedDeclaration declaration, string specPath)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(specPath)) ?? ".";
        var files = new List<AdditionalFileInfo>();
        ParsedArgument? configFile = declaration.Attributes.FirstOrDefault(a => a.Name == "BaseModel")?.Find("ConfigFile");
        if (configFile?.Value is { Kind: ValueKind.String, Text: { Length: > 0 } relative })
        {
            try
            {
                string full = Path.GetFullPath(Path.Combine(folder, relative));   // throws on a NUL in the path
                if (File.Exists(full) && new FileInfo(full).Length <= IO.LlamaConfig.MaxFileBytes) files.Add(new AdditionalFileInfo(full, File.ReadAllText(full)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                // Left out: reported as not found (MOE084), naming the path looked at.
            }
        }
        return new AdditionalFiles(folder, new EquatableArray<AdditionalFileInfo>(files.ToArray())) { FromSpec = true };
    }

    /// <summary>The validated declaration as the runtime's data: what the generator emits as the class's <c>Spec</c>.</summary>
    private static ModelSpec ToSpec(GeneratedModel m) => new()
    {
        Name = m.ClassName,
        Placement = m.Placement,
        Targets = m.Targets,
        Alpha = m.Alpha,
        Dropout = m.Dropout,
        Groups = m.Groups.Select(g => new ExpertGroup(g.Experts, g.TopK, g.Rank)).ToArray(),
        Router = m.Router is { } r ? Router(r) : null,
        LoadBalance = m.LoadBalance,
        GraphLosses = m.GraphLosses is { } g ? new GraphLossSettings(g.Poisson, g.Normal, g.Lambda, g.Form) : null,
        Layers = m.Shape.Layers,
        Hidden = m.Shape.Hidden,
        Intermediate = m.Shape.Intermediate,
        Heads = m.Shape.Heads,
        KvHeads = m.Shape.KvHeads,
        HeadDim = m.Shape.HeadDim,
        Vocab = m.Shape.Vocab,
        TrainableParameters = m.TrainableParameters,
    };

    private static RouterSettings Router(RouterModel r) => r.Kind switch
    {
        RouterKind.TopK => new TopKRouterSettings { JitterNoise = r.JitterNoise },
        RouterKind.TopP => new TopPRouterSettings { P = r.TopP, JitterNoise = r.JitterNoise },
        RouterKind.Switch => new SwitchRouterSettings { CapacityFactor = r.CapacityFactor, ZLossCoefficient = r.ZLossCoefficient, JitterNoise = r.JitterNoise },
        RouterKind.Soft => new SoftRouterSettings { JitterNoise = r.JitterNoise },
        _ => new GraphRouterSettings { Hidden = r.GraphHidden, Layers = r.GraphLayers, Density = r.GraphDensity, RebuiltAtLoad = r.GraphRebuiltAtLoad },
    };

    /// <summary>The path of the first property name or string under <paramref name="e"/> that cannot be read as UTF-16
    /// (a lone surrogate escape), or null.</summary>
    private static string? LoneSurrogate(JsonElement e, string at)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                try { _ = e.GetString(); }
                catch (InvalidOperationException) { return at; }
                return null;
            case JsonValueKind.Array:
                int i = 0;
                foreach (JsonElement item in e.EnumerateArray())
                    if (LoneSurrogate(item, $"{at}[{i++}]") is string found) return found;
                return null;
            case JsonValueKind.Object:
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { return at.Length == 0 ? "a field name" : $"a field name in {at}"; }
                    if (LoneSurrogate(p.Value, at.Length == 0 ? name : at + "." + name) is string found) return found;
                }
                return null;
            default:
                return null;
        }
    }

    private static DeclarationSpecResult Failed(string path, string why)
        => Result(null, new List<DiagnosticInfo> { DiagnosticInfo.Create(DiagnosticDescriptors.SpecInvalidJson, new LocationInfo(""), why) }, path);

    private static DeclarationSpecResult Result(ModelSpec? spec, List<DiagnosticInfo> found, string path)
        => new(spec, found.Select(d => new SpecDiagnostic(d.Descriptor.Id, d.Descriptor.Severity.ToString().ToLowerInvariant(),
            d.Location?.Field ?? "", d.Message, path)).ToList());
}
