using System;
using System.Globalization;
using MoeDsl.Shared;

#if MOEDSL_GENERATOR
using MoeDsl.Generator.Model;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Generator.Validation
#else
using MoeDsl.Runtime.Declarations.Model;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Runtime.Declarations.Validation
#endif
{
    /// <summary>The trainable-parameter count: MOE048 on overflow, MOE050 (info) per layer when asked.</summary>
    internal sealed partial class Validator
    {
        /// <summary>Counts the trainable parameters layer by layer (the formula shared with the runtime); null on overflow.</summary>
        private long? CountParameters(GeneratedModel m, ParsedAttribute? moe, LocationInfo? moeLocation)
        {
            BaseShape s = m.Shape;
            var perLayer = new long[s.Layers];
            long total = 0;
            try
            {
                for (int l = 0; l < s.Layers; l++)
                {
                    GroupModel g = m.GroupOf(l);
                    RouterModel? r = m.Router;
                    perLayer[l] = DeclarationShapes.LayerParameters(m.Placement, r?.Kind, m.Targets, s.Hidden, s.Intermediate, s.Heads, s.KvHeads, s.HeadDim,
                        g.Experts, g.Rank, r?.GraphHidden ?? 0, r?.GraphLayers ?? 0);
                    total = checked(total + perLayer[l]);
                }
            }
            catch (OverflowException)
            {
                Report(D.ParameterCountOverflow, moeLocation);
                return null;
            }
            if (moe?.Find("ReportParameters")?.Value is { Kind: ValueKind.Bool, Int: 1 }) ReportParameters(m, moe, perLayer, total);
            return total;
        }

        /// <summary>MOE050: one line per run of equal layers, then the total.</summary>
        private void ReportParameters(GeneratedModel m, ParsedAttribute moe, long[] perLayer, long total)
        {
            LocationInfo? where = Loc(moe, "ReportParameters");
            int start = 0;
            for (int l = 1; l <= perLayer.Length; l++)
            {
                if (l < perLayer.Length && perLayer[l] == perLayer[start] && m.GroupOf(l) == m.GroupOf(start)) continue;
                GroupModel g = m.GroupOf(start);
                string layersText = l - 1 == start ? $"layer {start}" : $"layers {start}-{l - 1}";
                string shapeText = m.IsMixture ? $"{g.Experts} experts, top-k {g.TopK}, rank {g.Rank}" : $"plain LoRA rank {g.Rank}";
                Report(D.ParametersPerLayer, where, m.ClassName + " " + layersText,
                    $"{shapeText}: {perLayer[start].ToString("N0", CultureInfo.InvariantCulture)} trainable parameters per layer ({(perLayer[start] * (l - start)).ToString("N0", CultureInfo.InvariantCulture)} in all)");
                start = l;
            }
            Report(D.ParametersPerLayer, where, m.ClassName, $"{total.ToString("N0", CultureInfo.InvariantCulture)} trainable parameters in total");
        }
    }
}
