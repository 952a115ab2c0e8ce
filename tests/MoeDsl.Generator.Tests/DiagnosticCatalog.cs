using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using MoeDsl.Generator.Diagnostics;

namespace MoeDsl.Generator.Tests;

/// <summary>The generator's descriptors (every public static field of <c>DiagnosticDescriptors</c>), so that the
/// tests take ids, severities and help links from the catalog instead of restating them.</summary>
internal static class DiagnosticCatalog
{
    public static IReadOnlyList<DiagnosticDescriptor> All { get; } = typeof(DiagnosticDescriptors).GetFields()
        .Where(f => f.IsStatic && f.FieldType == typeof(DiagnosticRule))
        .Select(f => ((DiagnosticRule)f.GetValue(null)!).ToDescriptor())
        .ToList();

    /// <summary>The descriptor with this id; fails the test when the catalog has none.</summary>
    public static DiagnosticDescriptor Get(string id)
    {
        var matching = All.Where(d => d.Id == id).ToList();
        Assert.True(matching.Count == 1, $"the catalog has {matching.Count} descriptors with id {id}");
        return matching[0];
    }
}
