using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MoeDsl.Generator.Diagnostics;
using MoeDsl.Generator.Emitting;
using MoeDsl.Generator.Model;
using MoeDsl.Generator.Parsing;
using MoeDsl.Generator.Validation;

namespace MoeDsl.Generator
{
    /// <summary>Completes every <c>[MoeModel]</c> partial class into a TorchSharp model: parse -> validate -> emit, with
    /// diagnostics reported through their own output so the generated source stays cached when only locations move.</summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class MoeModelGenerator : IIncrementalGenerator
    {
        /// <inheritdoc />
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            IncrementalValuesProvider<ParsedDeclaration> declarations = context.SyntaxProvider
                .ForAttributeWithMetadataName(
                    "MoeDsl.MoeModelAttribute",
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => Parser.Parse(ctx, ct))
                .Where(static d => d is not null)
                .Select(static (d, _) => d!)
                .WithTrackingName(TrackingNames.Parse);

            IncrementalValueProvider<RuntimeInfo> runtime = context.CompilationProvider
                .Select(static (c, _) => new RuntimeInfo(
                    c.GetTypeByMetadataName("MoeDsl.Runtime.Modeling.MoeCausalLM") is not null,
                    c.GetTypeByMetadataName("MoeDsl.Runtime.Routing.TopPRouter") is not null,
                    c.GetTypeByMetadataName("MoeDsl.Runtime.Routing.SwitchRouter") is not null,
                    c.GetTypeByMetadataName("MoeDsl.Runtime.Routing.SoftRouter") is not null,
                    c.GetTypeByMetadataName("MoeDsl.Runtime.Routing.GraphRouter") is not null))
                .WithTrackingName(TrackingNames.Runtime);

            IncrementalValueProvider<string?> projectDirectory = context.AnalyzerConfigOptionsProvider
                .Select(static (o, _) => o.GlobalOptions.TryGetValue("build_property.ProjectDir", out string? dir) && dir.Length > 0 ? dir : null);

            IncrementalValueProvider<AdditionalFiles> configFiles = context.AdditionalTextsProvider
                .Where(static f => f.Path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                .Select(static (f, ct) => new AdditionalFileInfo(f.Path, f.GetText(ct)?.ToString()))
                .Collect()
                .Combine(projectDirectory)
                .Select(static (input, _) => new AdditionalFiles(input.Right, new EquatableArray<AdditionalFileInfo>(System.Linq.Enumerable.ToArray(input.Left))))
                .WithTrackingName(TrackingNames.ConfigFiles);

            IncrementalValuesProvider<AnalysisResult> results = declarations
                .Combine(configFiles)
                .Combine(runtime)
                .Select(static (input, ct) => Validator.Analyze(input.Left.Left, input.Left.Right, input.Right, ct))
                .WithTrackingName(TrackingNames.Validate);

            IncrementalValuesProvider<GeneratedModel> models = results
                .Where(static r => r.Model is not null)
                .Select(static (r, _) => r.Model!)
                .WithTrackingName(TrackingNames.Model);

            IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> diagnostics = results
                .Select(static (r, _) => r.Diagnostics)
                .Where(static d => d.Count > 0)
                .WithTrackingName(TrackingNames.Diagnostics);

            context.RegisterSourceOutput(models, static (spc, model) =>
            {
                string source;
                try
                {
                    source = Emitter.Emit(model);
                }
                catch (Exception e)
                {
                    spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError.ToDescriptor(), null, model.ClassName, e.GetType().Name + ": " + e.Message));
                    return;
                }
                spc.AddSource(model.HintName, source);
            });

            context.RegisterSourceOutput(models.Collect(), static (spc, all) =>
            {
                if (all.IsDefaultOrEmpty) return;
                string source;
                try
                {
                    source = Emitter.EmitRegistry(all);
                }
                catch (Exception e)
                {
                    spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError.ToDescriptor(), null, "DeclaredModels", e.GetType().Name + ": " + e.Message));
                    return;
                }
                spc.AddSource("MoeDsl.DeclaredModels.g.cs", source);
            });

            context.RegisterSourceOutput(diagnostics, static (spc, list) =>
            {
                foreach (DiagnosticInfo d in list) spc.ReportDiagnostic(d.ToDiagnostic());
            });
        }
    }
}
