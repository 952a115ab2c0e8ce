namespace MoeDsl.Runtime.Declarations.Model;

/// <summary>Where a rule of the shared validator points in a JSON declaration spec: the field path (<c>Router.TopK</c>,
/// <c>ExpertsPerLayer.counts[1]</c>), the attribute's object, or empty for the whole spec. The generator's own
/// LocationInfo (a span in C# source) is not compiled here; the validator treats both as opaque.</summary>
internal sealed record LocationInfo(string Field);
