using System;

namespace MoeDsl.Shared
{
    /// <summary>What a declaration means structurally, shared as source by the generator (compile-time constants and
    /// diagnostics) and the runtime (the modules it builds): the projections and their shapes, how groups of layers are
    /// laid out, the MoLA presets and the trainable-parameter count. One place, two compilations.</summary>
    internal static class DeclarationShapes
    {
        /// <summary>Most decoder layers a declaration or a config.json may have (the largest published LLaMA-family models
        /// have 126); beyond it a size is a mistake, refused before anything is allocated for it.</summary>
        public const int MaxLayers = 1024;

        /// <summary>The seven projections of a decoder layer in construction order (q, k, v, o, then the MLP), with their
        /// Hugging Face module names.</summary>
        public static readonly (LoraTargets Target, string Name)[] Projections =
        {
            (LoraTargets.Q, "q_proj"), (LoraTargets.K, "k_proj"), (LoraTargets.V, "v_proj"), (LoraTargets.O, "o_proj"),
            (LoraTargets.Gate, "gate_proj"), (LoraTargets.Up, "up_proj"), (LoraTargets.Down, "down_proj"),
        };

        /// <summary>(in, out) features of a projection with an explicit head dimension (Qwen3, Gemma and others set
        /// <c>head_dim</c> apart from hidden / heads): q hidden -> heads x head dim, o heads x head dim -> hidden, k and v
        /// hidden -> kv heads x head dim, gate and up hidden -> intermediate, down intermediate -> hidden.</summary>
        public static (long In, long Out) Shape(LoraTargets projection, long hidden, long intermediate, long heads, long kvHeads, long headDim)
        {
            switch (projection)
            {
                case LoraTargets.Q: return (hidden, checked(heads * headDim));
                case LoraTargets.O: return (checked(heads * headDim), hidden);
                case LoraTargets.K:
                case LoraTargets.V: return (hidden, checked(kvHeads * headDim));
                case LoraTargets.Gate:
                case LoraTargets.Up: return (hidden, intermediate);
                case LoraTargets.Down: return (intermediate, hidden);
                default: throw new ArgumentOutOfRangeException(nameof(projection), projection, "not a single projection");
            }
        }

        /// <summary>The group of layers that <paramref name="layer"/> belongs to when <paramref name="groups"/> groups cover
        /// <paramref name="layers"/> layers: layer l of L belongs to group floor(l n / L), the group at the same relative
        /// depth. When n divides L this is n runs of L/n layers; otherwise the runs differ by at most one layer (5 layers
        /// in 4 groups: 2-1-1-1), and with fewer layers than groups every layer takes the group at its depth (2 layers
        /// of 2-4-6-8: 2 and 6). The generator spreads presets this way and the runtime re-shapes every declaration to
        /// another base this way.</summary>
        public static int GroupOf(int layer, int layers, int groups) => (int)((long)layer * groups / layers);

        /// <summary>First layer of <paramref name="group"/> under <see cref="GroupOf"/>: ceil(g L / n). The group is empty
        /// (it has no layer) when this is not below <see cref="FirstLayer"/> of the next group.</summary>
        public static int FirstLayer(int group, int layers, int groups) => (int)(((long)group * layers + groups - 1) / groups);

        /// <summary>Expert counts of the MoLA paper's allocations (four groups each).</summary>
        public static int[] PresetCounts(AllocationPreset preset)
        {
            switch (preset)
            {
                case AllocationPreset.Triangle: return new[] { 8, 6, 4, 2 };
                case AllocationPreset.InvertedTriangle: return new[] { 2, 4, 6, 8 };
                case AllocationPreset.Hourglass: return new[] { 8, 2, 2, 8 };
                case AllocationPreset.Diamond: return new[] { 2, 8, 8, 2 };
                case AllocationPreset.Rectangle: return new[] { 5, 5, 5, 5 };
                default: throw new ArgumentOutOfRangeException(nameof(preset), preset, "not an AllocationPreset");
            }
        }

        /// <summary>One LoRA pair on a projection in -> out: A [r, in] and B [out, r].</summary>
        public static long LoraParameters(long rank, long inFeatures, long outFeatures) => checked(rank * (inFeatures + outFeatures));

        /// <summary>A linear router in -> E without bias (TopK, TopP, Switch, Soft).</summary>
        public static long LinearRouterParameters(long experts, long inFeatures) => checked(experts * inFeatures);

        /// <summary>GMoE's graph router of one layer: expert-node and token-node projections Linear(d -> g), one [g, g]
        /// weight per GCN layer, the output Linear(g -> 1), all without bias, plus the learnable Poisson lambda and Normal
        /// sigma. The fixed random expert features, the adjacency and the running load are buffers.</summary>
        public static long GraphRouterParameters(long hidden, long graphHidden, long graphLayers)
            => checked(2 * graphHidden * hidden + graphLayers * graphHidden * graphHidden + graphHidden + 2);

        /// <summary>Trainable parameters of one decoder layer. <paramref name="router"/> null: plain LoRA. Overflow throws
        /// <see cref="OverflowException"/>.</summary>
        public static long LayerParameters(ExpertPlacement placement, RouterKind? router, LoraTargets targets, long hidden, long intermediate,
            long heads, long kvHeads, long headDim, long experts, long rank, long graphHidden, long graphLayers)
        {
            long total = 0;
            foreach (var (target, _) in Projections)
            {
                if ((targets & target) == 0) continue;
                (long inF, long outF) = Shape(target, hidden, intermediate, heads, kvHeads, headDim);
                bool ffn = (target & LoraTargets.FeedForward) != 0;
                if (router is null || (placement == ExpertPlacement.FeedForward && !ffn))
                    total = checked(total + LoraParameters(rank, inF, outF));
                else if (placement == ExpertPlacement.EveryProjection)
                    total = checked(total + experts * LoraParameters(rank, inF, outF) + LinearRouterParameters(experts, inF));
                else
                    total = checked(total + experts * LoraParameters(rank, inF, outF));
            }
            if (router is RouterKind kind && placement == ExpertPlacement.FeedForward && (targets & LoraTargets.FeedForward) != 0)
            {
                total = checked(total + (kind == RouterKind.Graph
                    ? GraphRouterParameters(hidden, graphHidden, graphLayers)
                    : LinearRouterParameters(experts, hidden)));
            }
            return total;
        }
    }
}
