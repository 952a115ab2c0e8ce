namespace MoeDsl.Generator.Model
{
    /// <summary>A validated declaration: everything the emitter needs, nothing that points back into the compilation.
    /// Per-layer arrays have one entry per layer; <see cref="Router"/> is -1 for plain LoRA.</summary>
    internal sealed record GeneratedModel(
        string? Namespace,
        string ClassName,
        string HintName,
        EquatableArray<ContainingTypeInfo> ContainingTypes,
        int Placement,
        int Router,
        int Targets,
        double Alpha,
        double Dropout,
        int Layers,
        int Hidden,
        int Intermediate,
        int Heads,
        int KvHeads,
        int Vocab,
        EquatableArray<int> Experts,
        EquatableArray<int> TopK,
        EquatableArray<int> Ranks,
        double TopP,
        double JitterNoise,
        double CapacityFactor,
        double ZLossCoefficient,
        double? LoadBalance,
        int GraphHidden,
        int GraphLayers,
        double GraphDensity,
        double? PoissonCoefficient,
        double? NormalCoefficient,
        double PoissonLambda,
        int GraphLossForm,
        long TrainableParameters)
    {
        public bool IsMixture => Router >= 0;
        public int HeadDim => Hidden / Heads;
        public int KvDim => KvHeads * HeadDim;
    }

    /// <summary>The result of validating one declaration: the model to emit (null when an error was found) and the
    /// diagnostics to report.</summary>
    internal sealed record AnalysisResult(GeneratedModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);

    /// <summary>DSL enum values as the generator knows them (it never loads the attributes assembly).</summary>
    internal static class Dsl
    {
        public const int FeedForward = 0, EveryProjection = 1;
        public const int TopK = 0, TopP = 1, Switch = 2, Soft = 3, Graph = 4;
        public const int Q = 1, K = 2, V = 4, O = 8, Gate = 16, Up = 32, Down = 64, AttentionTargets = 15, FeedForwardTargets = 112, AllTargets = 127;

        public static readonly string[] RouterNames = { "TopK", "TopP", "Switch", "Soft", "Graph" };
        public static readonly string[] PlacementNames = { "FeedForward", "EveryProjection" };
        public static readonly string[] PresetNames = { "Triangle", "InvertedTriangle", "Hourglass", "Diamond", "Rectangle" };
        public static readonly int[][] Presets = { new[] { 8, 6, 4, 2 }, new[] { 2, 4, 6, 8 }, new[] { 8, 2, 2, 8 }, new[] { 2, 8, 8, 2 }, new[] { 5, 5, 5, 5 } };
        public static readonly string[] FormNames = { "AbsLog", "KL" };

        /// <summary>The seven projections: flag, HF name, enum member name.</summary>
        public static readonly (int Flag, string Name, string Member)[] Projections =
        {
            (Q, "q_proj", "Q"), (K, "k_proj", "K"), (V, "v_proj", "V"), (O, "o_proj", "O"),
            (Gate, "gate_proj", "Gate"), (Up, "up_proj", "Up"), (Down, "down_proj", "Down"),
        };

        public static string TargetsExpression(int targets)
        {
            if (targets == 0) return "global::MoeDsl.LoraTargets.None";
            if (targets == AllTargets) return "global::MoeDsl.LoraTargets.All";
            var parts = new System.Collections.Generic.List<string>();
            int rest = targets;
            if ((rest & AttentionTargets) == AttentionTargets) { parts.Add("Attention"); rest &= ~AttentionTargets; }
            if ((rest & FeedForwardTargets) == FeedForwardTargets) { parts.Add("FeedForward"); rest &= ~FeedForwardTargets; }
            foreach (var p in Projections)
                if ((rest & p.Flag) != 0) parts.Add(p.Member);
            return string.Join(" | ", parts.ConvertAll(p => "global::MoeDsl.LoraTargets." + p));
        }
    }
}
