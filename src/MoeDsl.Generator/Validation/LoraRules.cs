using System.Linq;
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
    /// <summary>LoRA settings and targets: MOE031-MOE036.</summary>
    internal sealed partial class Validator
    {
        /// <summary>The declared LoRA settings, defaults filled in.</summary>
        private sealed record LoraModel(int Rank, double Alpha, double Dropout, LoraTargets Targets);

        /// <summary>MOE031 rank below 1, MOE032 alpha not positive, MOE033 dropout outside [0, 1), MOE034 no targets,
        /// MOE008 undefined target flags.</summary>
        private LoraModel CheckLora(ParsedAttribute? lora)
        {
            int rank = Int(lora, "Rank", DslDefaults.Rank);
            if (lora is not null && rank < 1) Report(D.RankBelowOne, Loc(lora, "Rank"), rank);
            double alpha = Double(lora, "Alpha", DslDefaults.Alpha, out bool alphaOk);
            if (alphaOk && !(alpha > 0)) Report(D.AlphaNotPositive, Loc(lora, "Alpha"), F(alpha));
            double dropout = Double(lora, "Dropout", DslDefaults.Dropout, out bool dropoutOk);
            if (dropoutOk && !(dropout >= 0 && dropout < 1)) Report(D.DropoutOutOfRange, Loc(lora, "Dropout"), F(dropout));
            var targets = (LoraTargets)Int(lora, "Targets", (int)DslDefaults.Targets);
            if ((targets & ~LoraTargets.All) != 0)
                Report(D.UndefinedEnumValue, Loc(lora, "Targets"), "Targets", (int)targets, "LoraTargets", "Q, K, V, O, Gate, Up, Down and their combinations");
            else if (lora is not null && targets == LoraTargets.None)
                Report(D.NoTargets, Loc(lora, "Targets"), "LoraTargets.None");
            return new LoraModel(rank, alpha, dropout, targets);
        }

        /// <summary>MOE035 FeedForward placement without FFN targets, MOE036 with only some of them.</summary>
        private void CheckPlacementTargets(Attributes a, ExpertPlacement? placement, LoraModel lora)
        {
            LoraTargets targets = lora.Targets;
            if (!a.Mixture || placement != ExpertPlacement.FeedForward || a.Lora is null || targets == LoraTargets.None || (targets & ~LoraTargets.All) != 0) return;
            LoraTargets ffn = targets & LoraTargets.FeedForward;
            if (ffn == LoraTargets.None) Report(D.FeedForwardWithoutFfnTargets, Loc(a.Lora, "Targets"), Dsl.TargetsExpression(targets, prefix: ""));
            else if (ffn != LoraTargets.FeedForward)
            {
                var missing = DeclarationShapes.Projections.Where(p => (p.Target & LoraTargets.FeedForward) != 0 && (targets & p.Target) == 0).Select(p => p.Target.ToString());
                Report(D.PartialFfnTargets, Loc(a.Lora, "Targets"), Dsl.TargetsExpression(targets, prefix: ""), string.Join(", ", missing));
            }
        }
    }
}
