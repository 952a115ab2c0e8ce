
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
    /// <summary>The auxiliary losses: MOE051-MOE053, MOE061, MOE062.</summary>
    internal sealed partial class Validator
    {
        /// <summary>MOE051 a coefficient not positive, MOE062 a load balance without experts. Null when not declared.</summary>
        private double? CheckLoadBalance(ParsedAttribute? loadBalance, bool mixture)
        {
            if (loadBalance is null) return null;
            double c = Double(loadBalance, "coefficient", DslDefaults.LoadBalance, out bool ok);
            if (ok && !(c > 0)) Report(D.LoadBalanceNotPositive, Loc(loadBalance, "coefficient"), F(c));
            if (!mixture) Report(D.LoadBalanceWithoutExperts, loadBalance.Location, decl.ClassName);
            return c;
        }

        /// <summary>MOE052 GraphLosses without the Graph router, MOE053 a value out of range, MOE061 both losses off.
        /// Null when not declared.</summary>
        private GraphLossesModel? CheckGraphLosses(ParsedAttribute? graphLosses, bool hasRouter, RouterCheck router)
        {
            if (graphLosses is null) return null;
            if (!hasRouter || (router.Model is not null && router.Kind != RouterKind.Graph))
                Report(D.GraphLossesWithoutGraph, graphLosses.Location, decl.ClassName, hasRouter ? "uses RouterKind." + router.Kind : "declares no router");
            double poisson = Double(graphLosses, "Poisson", DslDefaults.PoissonCoefficient, out bool poissonOk);
            double normal = Double(graphLosses, "Normal", DslDefaults.NormalCoefficient, out bool normalOk);
            double lambda = Double(graphLosses, "Lambda", DslDefaults.PoissonLambda, out bool lambdaOk);
            if (poissonOk && !(poisson >= 0)) Report(D.GraphLossValueOutOfRange, Loc(graphLosses, "Poisson"), "Poisson", F(poisson), "is negative; a loss coefficient must be >= 0");
            if (normalOk && !(normal >= 0)) Report(D.GraphLossValueOutOfRange, Loc(graphLosses, "Normal"), "Normal", F(normal), "is negative; a loss coefficient must be >= 0");
            if (lambdaOk && !(lambda >= 1 && lambda <= 2)) Report(D.GraphLossValueOutOfRange, Loc(graphLosses, "Lambda"), "Lambda", F(lambda), "is outside [1, 2], the range lambda is clamped to");
            if (poissonOk && normalOk && poisson == 0 && normal == 0) Report(D.GraphLossesOff, graphLosses.Location);
            GraphLossForm form = Enum(graphLosses, "Form", DslDefaults.GraphLossForm) ?? DslDefaults.GraphLossForm;
            GraphNormalScope scope = Enum(graphLosses, "NormalScope", DslDefaults.GraphNormalScope) ?? DslDefaults.GraphNormalScope;
            bool countPadding = graphLosses.Find("CountPadding")?.Value is { Kind: ValueKind.Bool } b ? b.Int == 1 : DslDefaults.GraphCountPadding;
            return new GraphLossesModel(poisson, normal, lambda, form, scope, countPadding);
        }
    }
}
