using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;

#if MOEDSL_GENERATOR
using MoeDsl.Generator.Diagnostics;
using MoeDsl.Generator.Model;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Generator.Validation
#else
using MoeDsl.Runtime.Declarations.Diagnostics;
using MoeDsl.Runtime.Declarations.Model;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Runtime.Declarations.Validation
#endif
{
    /// <summary>Checks a parsed declaration against every rule of the DSL and, when it holds, resolves it into the
    /// <see cref="GeneratedModel"/> the emitter writes. The rules are grouped by concern, one file each: the class
    /// (<c>ClassRules</c>), the base shape (<c>BaseShapeRules</c>), LoRA (<c>LoraRules</c>), the router
    /// (<c>RouterRules</c>), the allocation of experts (<c>AllocationRules</c>), the losses (<c>LossRules</c>) and the
    /// parameter count (<c>ParameterRules</c>). Each diagnostic sits on the argument that is wrong (falling back to its
    /// attribute, and to the class only for rules about the class).</summary>
    internal sealed partial class Validator
    {
        private readonly ParsedDeclaration decl;
        private readonly AdditionalFiles files;
        private readonly RuntimeInfo runtime;
        private readonly List<DiagnosticInfo> diagnostics = new List<DiagnosticInfo>();
        private bool hasError;

        private Validator(ParsedDeclaration decl, AdditionalFiles files, RuntimeInfo runtime)
        {
            this.decl = decl;
            this.files = files;
            this.runtime = runtime;
        }

        /// <summary>Validates; never throws (an unexpected failure becomes MOE000).</summary>
        public static AnalysisResult Analyze(ParsedDeclaration decl, AdditionalFiles files, RuntimeInfo runtime, CancellationToken cancellationToken)
        {
            try
            {
                return new Validator(decl, files, runtime).Run(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                throw;
            }
            catch (Exception e)
            {
                return new AnalysisResult(null, new EquatableArray<DiagnosticInfo>(new[]
                {
                    DiagnosticInfo.Create(D.InternalError, decl.ClassLocation, decl.ClassName, e.GetType().Name + ": " + e.Message),
                }));
            }
        }

        private void Report(DiagnosticRule descriptor, LocationInfo? location, params object[] args)
        {
            diagnostics.Add(DiagnosticInfo.Create(descriptor, location ?? decl.ClassLocation, args));
            if (descriptor.Severity == RuleSeverity.Error) hasError = true;
        }

        private AnalysisResult Done(GeneratedModel? model)
            => new AnalysisResult(hasError ? null : model, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));

        private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        private AnalysisResult Run(CancellationToken cancellationToken)
        {
            if (decl.InternalError is not null)
            {
                Report(D.InternalError, decl.ClassLocation, decl.ClassName, decl.InternalError);
                return Done(null);
            }

            CheckClass();
            Attributes a = CheckAttributes();
            ExpertPlacement? placement = Enum(a.Moe, "Placement", DslDefaults.Placement);
            CheckAttributePairs(a);

            BaseShape? shape = CheckBaseShape(a.BaseModel);
            cancellationToken.ThrowIfCancellationRequested();
            LoraModel lora = CheckLora(a.Lora);
            RouterCheck router = CheckRouter(a, placement);
            CheckPlacementTargets(a, placement, lora);

            Allocation? allocation = a.Experts is null ? null : CheckAllocation(a.Experts, shape?.Layers, router);
            if (allocation is not null && shape is not null) CheckRouterAgainstAllocation(a.Experts!, a.Router, router, allocation, shape.Layers);
            if (allocation is not null && shape is not null) CheckExpertsForRank(a.Experts!, allocation, shape.Layers, a.Lora is not null ? lora.Rank : null);

            double? loadBalance = CheckLoadBalance(a.LoadBalance, a.Mixture);
            GraphLossesModel? graphLosses = CheckGraphLosses(a.GraphLosses, a.HasRouter, router);

            if (hasError || shape is null || placement is null || a.Lora is null || lora.Rank < 1) return Done(null);
            if (a.Mixture && (allocation is null || router.Model is null)) return Done(null);

            EquatableArray<GroupModel> groups = a.Mixture
                ? allocation!.Groups(lora.Rank)
                : new EquatableArray<GroupModel>(new[] { new GroupModel(0, 0, lora.Rank) });
            var model = new GeneratedModel(
                decl.Namespace, decl.ClassName, decl.HintName, decl.ContainingTypes, shape, placement.Value, lora.Targets, lora.Alpha, lora.Dropout,
                groups, a.Mixture ? router.Model : null, loadBalance, graphLosses, 0);
            long? total = CountParameters(model, a.Moe, a.MoeLocation);
            return total is long count ? Done(model with { TrainableParameters = count }) : Done(null);
        }
    }
}
