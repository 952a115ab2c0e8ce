
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
    /// <summary>The router: MOE020, MOE022, MOE023, MOE025-MOE030, MOE063, MOE070, MOE071.</summary>
    internal sealed partial class Validator
    {
        /// <summary>The declared router: <see cref="Model"/> is null when there is none or its kind is undefined.</summary>
        private sealed record RouterCheck(RouterKind Kind, int TopK, RouterModel? Model);

        private RouterCheck CheckRouter(Attributes a, ExpertPlacement? placement)
        {
            ParsedAttribute? router = a.Router;
            RouterKind? declaredKind = Enum(router, "kind", RouterKind.TopK);
            RouterKind kind = declaredKind ?? RouterKind.TopK;
            int topK = Int(router, "TopK", DslDefaults.TopK);
            double topP = Double(router, "TopP", DslDefaults.TopP, out bool topPOk);
            double jitter = Double(router, "JitterNoise", DslDefaults.JitterNoise, out bool jitterOk);
            double capacity = Double(router, "CapacityFactor", DslDefaults.CapacityFactor, out bool capacityOk);
            double zLoss = Double(router, "ZLossCoefficient", DslDefaults.ZLossCoefficient, out bool zLossOk);
            int graphHidden = Int(router, "GraphHidden", DslDefaults.GraphHidden);
            int graphLayers = Int(router, "GraphLayers", DslDefaults.GraphLayers);
            double graphDensity = Double(router, "GraphDensity", DslDefaults.GraphDensity, out bool densityOk);
            bool graphRebuiltAtLoad = router?.Find("GraphRebuiltAtLoad")?.Value is { Kind: ValueKind.Bool } rebuilt ? rebuilt.Int == 1 : DslDefaults.GraphRebuiltAtLoad;

            RouterModel? model = null;
            if (router is not null && declaredKind is not null)
            {
                CheckTopK(router, kind, topK);
                if (kind == RouterKind.TopP) { if (topPOk && !(topP > 0 && topP <= 1)) Report(D.TopPOutOfRange, Loc(router, "TopP"), F(topP)); }
                else Ignored(router, kind, "TopP");
                if (jitterOk && !(jitter >= 0 && jitter < 1)) Report(D.JitterOutOfRange, Loc(router, "JitterNoise"), F(jitter));
                else if (kind == RouterKind.Graph) Ignored(router, kind, "JitterNoise");
                if (kind == RouterKind.Switch)
                {
                    if (capacityOk && !(capacity > 0)) Report(D.CapacityNotPositive, Loc(router, "CapacityFactor"), F(capacity));
                    if (zLossOk && !(zLoss >= 0)) Report(D.ZLossNegative, Loc(router, "ZLossCoefficient"), F(zLoss));
                }
                else { Ignored(router, kind, "CapacityFactor"); Ignored(router, kind, "ZLossCoefficient"); }
                if (kind == RouterKind.Graph) CheckGraph(router, a.Moe, placement, graphHidden, graphLayers, densityOk ? graphDensity : (double?)null);
                else { Ignored(router, kind, "GraphHidden"); Ignored(router, kind, "GraphLayers"); Ignored(router, kind, "GraphDensity"); Ignored(router, kind, "GraphRebuiltAtLoad"); }
                CheckRuntimeHasRouter(router, kind);
                model = new RouterModel(kind, jitter, topP, capacity, zLoss, graphHidden, graphLayers, graphDensity, graphRebuiltAtLoad);
            }
            if (!runtime.HasRuntime) Report(D.RuntimeNotReferenced, a.MoeLocation, decl.ClassName);
            return new RouterCheck(kind, topK, model);
        }

        /// <summary>MOE063: an argument this router kind does not use.</summary>
        private void Ignored(ParsedAttribute router, RouterKind kind, string name)
        {
            if (Given(router, name)) Report(D.IgnoredArgument, Loc(router, name), name, kind.ToString());
        }

        /// <summary>MOE020 top-k below 1, MOE023 Switch with a top-k other than 1, MOE063 top-k for TopP or Soft.</summary>
        private void CheckTopK(ParsedAttribute router, RouterKind kind, int topK)
        {
            if (kind is RouterKind.TopK or RouterKind.Graph && topK < 1) Report(D.TopKBelowOne, Loc(router, "TopK"), topK);
            if (kind == RouterKind.Switch && Given(router, "TopK") && topK != 1) Report(D.SwitchTopK, Loc(router, "TopK"), topK);
            if (kind is RouterKind.TopP or RouterKind.Soft) Ignored(router, kind, "TopK");
        }

        /// <summary>MOE026 a graph size below 1, MOE027 density outside (0, 1], MOE025 the Graph router on every projection.</summary>
        private void CheckGraph(ParsedAttribute router, ParsedAttribute? moe, ExpertPlacement? placement, int graphHidden, int graphLayers, double? density)
        {
            if (graphHidden < 1) Report(D.GraphSizeBelowOne, Loc(router, "GraphHidden"), "GraphHidden", graphHidden);
            if (graphLayers < 1) Report(D.GraphSizeBelowOne, Loc(router, "GraphLayers"), "GraphLayers", graphLayers);
            if (density is double d && !(d > 0 && d <= 1)) Report(D.GraphDensityOutOfRange, Loc(router, "GraphDensity"), F(d));
            if (placement == ExpertPlacement.EveryProjection)
                Report(D.GraphEveryProjection, moe?.Find("Placement")?.Location ?? Loc(router, "kind"));
        }

        /// <summary>MOE071: the referenced runtime predates this router kind.</summary>
        private void CheckRuntimeHasRouter(ParsedAttribute router, RouterKind kind)
        {
            if (!runtime.HasRuntime) return;
            string? missing = kind switch
            {
                RouterKind.TopP when !runtime.HasTopP => "MoeDsl.Runtime.Routing.TopPRouter",
                RouterKind.Switch when !runtime.HasSwitch => "MoeDsl.Runtime.Routing.SwitchRouter",
                RouterKind.Soft when !runtime.HasSoft => "MoeDsl.Runtime.Routing.SoftRouter",
                RouterKind.Graph when !runtime.HasGraph => "MoeDsl.Runtime.Routing.GraphRouter",
                _ => null,
            };
            if (missing is not null) Report(D.RouterNotAvailable, Loc(router, "kind"), kind.ToString(), missing);
        }
    }
}
