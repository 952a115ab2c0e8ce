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
    private static readonly (LoraTargets Flag, bool Ffn)[] Projections =
    {
        (LoraTargets.Q, false), (LoraTargets.K, false), (LoraTargets.V, false), (LoraTargets.O, false),
        (LoraTargets.Gate, true), (LoraTargets.Up, true), (LoraTargets.Down, true),
    };

    /// <summary>The rows of a spec.</summary>
    public static IReadOnlyList<LayerRow> Rows(ModelSpec spec)
    {
        int headDim = spec.Hidden / spec.Heads;
        long kv = (long)spec.KvHeads * headDim;
        var rows = new List<LayerRow>(spec.Layers);
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            int rank = spec.RankPerLayer.Length > 0 ? spec.RankPerLayer[layer] : 0;
            int experts = spec.IsMixture ? spec.ExpertsPerLayer[layer] : 0;
            int topK = spec.IsMixture ? spec.TopKPerLayer[layer] : 0;
            long total = 0;
            foreach (var (flag, ffn) in Projections)
            {
                if ((spec.Targets & flag) == 0 || rank == 0) continue;
                (long inF, long outF) = flag switch
                {
                    LoraTargets.K or LoraTargets.V => ((long)spec.Hidden, kv),
                    LoraTargets.Gate or LoraTargets.Up => ((long)spec.Hidden, (long)spec.Intermediate),
                    LoraTargets.Down => ((long)spec.Intermediate, (long)spec.Hidden),
                    _ => ((long)spec.Hidden, (long)spec.Hidden),
                };
                long lora = rank * (inF + outF);
                if (experts == 0 || (spec.Placement == ExpertPlacement.FeedForward && !ffn)) total += lora;
                else if (spec.Placement == ExpertPlacement.EveryProjection) total += experts * lora + experts * inF;
                else total += experts * lora;
            }
            if (experts > 0 && spec.Placement == ExpertPlacement.FeedForward && (spec.Targets & LoraTargets.FeedForward) != 0)
            {
                total += spec.Router == RouterKind.Graph
                    ? 2L * spec.GraphHidden * spec.Hidden + (long)spec.GraphLayers * spec.GraphHidden * spec.GraphHidden + spec.GraphHidden
                      + (spec.PoissonCoefficient is not null || spec.NormalCoefficient is not null ? 2 : 0)
                    : (long)experts * spec.Hidden;
            }
            rows.Add(new LayerRow(layer, experts, topK, rank, experts > 0 ? spec.Router?.ToString() ?? "-" : "-", total));
        }
        return rows;
    }

    /// <summary>One-line description of the spec's base shape and method.</summary>
    public static string Describe(DeclaredMethod method, ModelSpec spec, string baseName)
        => $"{method.Name} ({method.Type.Name}): {spec.Placement} experts, router {spec.Router?.ToString() ?? "none (plain LoRA)"}, " +
           $"alpha {spec.Alpha}, dropout {spec.Dropout}, targets {spec.Targets}" +
           (spec.LoadBalance is double lb ? $", load balance {lb}" : "") +
           (spec.PoissonCoefficient is double p ? $", Poisson {p} / Normal {spec.NormalCoefficient}" : "") +
           $"; base {baseName}: {spec.Layers} layers, hidden {spec.Hidden}, intermediate {spec.Intermediate}, heads {spec.Heads}/{spec.KvHeads}, vocab {spec.Vocab}";

    /// <summary>The shape of a config as a spec (for <c>--model</c>).</summary>
    public static ModelSpec ShapeOf(DeclaredMethod method, LlamaConfig config)
    {
        try { return method.Spec.ShapedTo(config); }
        catch (ArgumentException e) { throw new UsageException($"--method {method.Name} cannot be shaped to this model ({config.NumHiddenLayers} layers): {e.Message}"); }
    }
}
