namespace MoeDsl.Generator.Validation
{
    /// <summary>Trainable parameters of a declaration, counted at compile time (the frozen base is excluded). All counts
    /// are checked: an overflow throws <see cref="System.OverflowException"/>, reported as MOE048.</summary>
    internal static class ParameterCount
    {
        /// <summary>One LoRA pair on a projection in -> out: A [r, in] and B [out, r].</summary>
        public static long Lora(long rank, long inFeatures, long outFeatures) => checked(rank * (inFeatures + outFeatures));

        /// <summary>A linear router in -> E without bias (TopK, TopP, Switch, Soft).</summary>
        public static long LinearRouter(long experts, long inFeatures) => checked(experts * inFeatures);

        /// <summary>GMoE's graph router of one layer: expert-node projection Linear(d -> g) and token-node projection
        /// Linear(d -> g), L GCN weights [g, g], the output Linear(g -> 1), all without bias; plus the learnable Poisson
        /// lambda and Normal sigma (always parameters: GMoE's losses are on with the paper's coefficients unless
        /// [GraphLosses] turns them off). The fixed random expert features, the adjacency and the running load are buffers.
        /// This is the one place that knows the graph router's parameter layout.</summary>
        public static long GraphRouter(long hidden, long graphHidden, long graphLayers, bool graphLosses)
            => checked(2 * graphHidden * hidden + graphLayers * graphHidden * graphHidden + graphHidden + 2);

        /// <summary>Trainable parameters of one layer.</summary>
        /// <param name="router">Router kind, -1 for plain LoRA.</param>
        public static long Layer(int placement, int router, int targets, long hidden, long intermediate, long kvDim,
            long experts, long rank, long graphHidden, long graphLayers, bool graphLosses)
        {
            long total = 0;
            foreach (var (flag, _, _) in Model.Dsl.Projections)
            {
                if ((targets & flag) == 0) continue;
                (long inF, long outF) = Shape(flag, hidden, intermediate, kvDim);
                bool ffn = (flag & Model.Dsl.FeedForwardTargets) != 0;
                if (router < 0 || (placement == Model.Dsl.FeedForward && !ffn))
                    total = checked(total + Lora(rank, inF, outF));
                else if (placement == Model.Dsl.EveryProjection)
                    total = checked(total + experts * Lora(rank, inF, outF) + LinearRouter(experts, inF));
                else
                    total = checked(total + experts * Lora(rank, inF, outF));
            }
            if (router >= 0 && placement == Model.Dsl.FeedForward && (targets & Model.Dsl.FeedForwardTargets) != 0)
            {
                total = checked(total + (router == Model.Dsl.Graph
                    ? GraphRouter(hidden, graphHidden, graphLayers, graphLosses)
                    : LinearRouter(experts, hidden)));
            }
            return total;
        }

        /// <summary>(in, out) of a projection: q/o hidden -> hidden, k/v hidden -> kvHeads * headDim, gate/up hidden ->
        /// intermediate, down intermediate -> hidden.</summary>
        public static (long In, long Out) Shape(int flag, long hidden, long intermediate, long kvDim) => flag switch
        {
            Model.Dsl.K or Model.Dsl.V => (hidden, kvDim),
            Model.Dsl.Gate or Model.Dsl.Up => (hidden, intermediate),
            Model.Dsl.Down => (intermediate, hidden),
            _ => (hidden, hidden),
        };
    }
}
