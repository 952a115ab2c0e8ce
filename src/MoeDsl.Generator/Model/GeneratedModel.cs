using System.Collections.Generic;

#if MOEDSL_GENERATOR
namespace MoeDsl.Generator.Model
#else
namespace MoeDsl.Runtime.Declarations.Model
#endif
{
    /// <summary>The declared base shape (<paramref name="HeadDim"/> resolved: given, from config.json, or hidden / heads).</summary>
    internal sealed record BaseShape(int Layers, int Hidden, int Intermediate, int Heads, int KvHeads, int HeadDim, int Vocab);

    /// <summary>One group of layers: experts, top-k and rank (0 experts: plain LoRA).</summary>
    internal sealed record GroupModel(int Experts, int TopK, int Rank);

    /// <summary>The declared router; the emitter writes only the settings of <see cref="Kind"/>.</summary>
    internal sealed record RouterModel(RouterKind Kind, double JitterNoise, double TopP, double CapacityFactor, double ZLossCoefficient,
        int GraphHidden, int GraphLayers, double GraphDensity, bool GraphRebuiltAtLoad);

    /// <summary>GMoE's losses as declared with <c>[GraphLosses]</c>.</summary>
    internal sealed record GraphLossesModel(double Poisson, double Normal, double Lambda, GraphLossForm Form, GraphNormalScope NormalScope, bool CountPadding);

    /// <summary>A validated declaration: everything the emitter needs, nothing that points back into the compilation.
    /// <see cref="Groups"/> cover the layers in equal runs; <see cref="Router"/> is null for plain LoRA.</summary>
    internal sealed record GeneratedModel(
        string? Namespace,
        string ClassName,
        string HintName,
        EquatableArray<ContainingTypeInfo> ContainingTypes,
        BaseShape Shape,
        ExpertPlacement Placement,
        LoraTargets Targets,
        double Alpha,
        double Dropout,
        EquatableArray<GroupModel> Groups,
        RouterModel? Router,
        double? LoadBalance,
        GraphLossesModel? GraphLosses,
        long TrainableParameters)
    {
        public bool IsMixture => Router is not null;

        /// <summary>The group of <paramref name="layer"/>.</summary>
        public GroupModel GroupOf(int layer) => Groups[Shared.DeclarationShapes.GroupOf(layer, Shape.Layers, Groups.Count)];
    }

    /// <summary>The result of validating one declaration: the model to emit (null when an error was found) and the
    /// diagnostics to report.</summary>
    internal sealed record AnalysisResult(GeneratedModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);

    /// <summary>How the DSL's enums are written in messages and generated code.</summary>
    internal static class Dsl
    {
        /// <summary><paramref name="targets"/> as a C# expression (or, with <paramref name="prefix"/> empty, as a message writes it).</summary>
        public static string TargetsExpression(LoraTargets targets, string prefix = "global::MoeDsl.")
        {
            if (targets == LoraTargets.None || targets == LoraTargets.All) return prefix + "LoraTargets." + targets;
            var parts = new List<string>();
            LoraTargets rest = targets;
            if ((rest & LoraTargets.Attention) == LoraTargets.Attention) { parts.Add("Attention"); rest &= ~LoraTargets.Attention; }
            if ((rest & LoraTargets.FeedForward) == LoraTargets.FeedForward) { parts.Add("FeedForward"); rest &= ~LoraTargets.FeedForward; }
            foreach (var (target, _) in Shared.DeclarationShapes.Projections)
                if ((rest & target) != 0) parts.Add(target.ToString());
            return string.Join(" | ", parts.ConvertAll(p => prefix + "LoraTargets." + p));
        }

        /// <summary>Names of an enum's defined values, for messages.</summary>
        public static string[] Names<T>() where T : struct => (string[])System.Enum.GetNames(typeof(T));
    }
}
