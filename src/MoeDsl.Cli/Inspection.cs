using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Cli;

/// <summary>One row of <c>moedsl inspect</c>.</summary>
/// <param name="Layer">Decoder layer.</param>
/// <param name="Experts">Experts (0 for plain LoRA).</param>
/// <param name="TopK">Experts per token (0 for plain LoRA).</param>
/// <param name="Rank">LoRA rank.</param>
/// <param name="Router">Router kind, "-" for plain LoRA.</param>
/// <param name="Trainable">Trainable parameters of the layer.</param>
public sealed record LayerRow(int Layer, int Experts, int TopK, int Rank, string Router, long Trainable);

/// <summary>Per-layer allocation and trainable-parameter counts of a declaration, counted from the spec (no model is
/// built, so the LLaMA-2-7B shape costs nothing).</summary>
public static class Inspection
{
    /// <summary>The rows of a spec.</summary>
    public static IReadOnlyList<LayerRow> Rows(ModelSpec spec)
        => Enumerable.Range(0, spec.Layers).Select(layer =>
        {
            ExpertGroup g = spec.GroupOf(layer);
            return new LayerRow(layer, g.Experts, g.TopK, g.Rank, spec.RouterKind?.ToString() ?? "-", spec.TrainableParametersInLayer(layer));
        }).ToList();

    /// <summary>One-line description of the spec's base shape and method.</summary>
    public static string Describe(DeclaredModel method, ModelSpec spec, string baseName)
        => $"{method.Name} ({method.Type.Name}): {spec.Placement} experts, router {spec.Router?.ToString() ?? "none (plain LoRA)"}, " +
           $"alpha {spec.Alpha}, dropout {spec.Dropout}, targets {spec.Targets}" +
           (spec.LoadBalance is double lb ? $", load balance {lb}" : "") +
           (spec.EffectiveGraphLosses is { } g ? $", Poisson {g.Poisson} / Normal {g.Normal}" : "") +
           $"; base {baseName}: {spec.Layers} layers, hidden {spec.Hidden}, intermediate {spec.Intermediate}, heads {spec.Heads}/{spec.KvHeads}, vocab {spec.Vocab}";

    /// <summary>The shape of a config as a spec (for <c>--model</c>).</summary>
    public static ModelSpec ShapeOf(DeclaredModel method, LlamaConfig config)
    {
        try { return method.Spec.ShapedTo(config); }
        catch (ArgumentException e) { throw new UsageException($"--method {method.Name} cannot be shaped to this model ({config.NumHiddenLayers} layers): {e.Message}"); }
    }
}
