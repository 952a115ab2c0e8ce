// Also compiled into the generator (MOEDSL_GENERATOR), where this type is internal.
namespace MoeDsl
{
    /// <summary>The default of every optional DSL argument. The attributes' initialisers, the generator (which links this
    /// file) and the run-time declarations all read them from here.</summary>
#if MOEDSL_GENERATOR
    internal
#else
    public
#endif
    static class DslDefaults
    {
        /// <summary>LoRA rank r.</summary>
        public const int Rank = 8;
        /// <summary>LoRA alpha (the update is scaled by alpha / r).</summary>
        public const double Alpha = 16;
        /// <summary>Dropout on the LoRA input.</summary>
        public const double Dropout = 0.05;
        /// <summary>Targeted projections.</summary>
        public const LoraTargets Targets = LoraTargets.All;
        /// <summary>Where the experts sit.</summary>
        public const ExpertPlacement Placement = ExpertPlacement.FeedForward;
        /// <summary>Experts chosen per token (TopK and Graph routers).</summary>
        public const int TopK = 2;
        /// <summary>Probability mass of the TopP router.</summary>
        public const double TopP = 0.8;
        /// <summary>Multiplicative jitter on the router input while training (0 = off).</summary>
        public const double JitterNoise = 0;
        /// <summary>Switch capacity factor.</summary>
        public const double CapacityFactor = 1.0;
        /// <summary>Switch router z-loss coefficient.</summary>
        public const double ZLossCoefficient = 0.001;
        /// <summary>Graph router: GCN width g.</summary>
        public const int GraphHidden = 128;
        /// <summary>Graph router: GCN layers.</summary>
        public const int GraphLayers = 2;
        /// <summary>Graph router: expert-expert edge density (diagonal included).</summary>
        public const double GraphDensity = 0.25;
        /// <summary>Graph router: rebuild the graph from the loaded (trained) weights when an adapter is loaded, as GMoE does.</summary>
        public const bool GraphRebuiltAtLoad = true;
        /// <summary>Load-balance coefficient when <c>[LoadBalance]</c> is declared without one.</summary>
        public const double LoadBalance = 0.001;
        /// <summary>GMoE's Poisson distinction coefficient (the reference config's <c>router_route_loss_coef_</c>).</summary>
        public const double PoissonCoefficient = 0.005;
        /// <summary>GMoE's Normal balance coefficient (the reference config's <c>router_count_loss_coef_</c>).</summary>
        public const double NormalCoefficient = 8;
        /// <summary>GMoE's initial Poisson lambda.</summary>
        public const double PoissonLambda = 1.5;
        /// <summary>GMoE's divergence form.</summary>
        public const GraphLossForm GraphLossForm = MoeDsl.GraphLossForm.AbsLog;
        /// <summary>GMoE's Normal target normalisation (the reference's: over all layers).</summary>
        public const GraphNormalScope GraphNormalScope = MoeDsl.GraphNormalScope.AcrossLayers;
        /// <summary>GMoE's losses count padding tokens (the reference's behaviour).</summary>
        public const bool GraphCountPadding = true;
    }
}
