using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using MoeDsl.Generator.Diagnostics;
using MoeDsl.Generator.Model;
using MoeDsl.Generator.Parsing;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;

namespace MoeDsl.Generator.Validation
{
    /// <summary>Checks a parsed declaration against every rule of the DSL and, when it holds, resolves it into the
    /// <see cref="GeneratedModel"/> the emitter writes. Each diagnostic sits on the argument that is wrong (falling
    /// back to its attribute, and to the class only for rules about the class).</summary>
    internal sealed class Validator
    {
        private readonly ParsedDeclaration decl;
        private readonly EquatableArray<AdditionalFileInfo> files;
        private readonly RuntimeInfo runtime;
        private readonly List<DiagnosticInfo> diagnostics = new List<DiagnosticInfo>();
        private bool hasError;

        private Validator(ParsedDeclaration decl, EquatableArray<AdditionalFileInfo> files, RuntimeInfo runtime)
        {
            this.decl = decl;
            this.files = files;
            this.runtime = runtime;
        }

        /// <summary>Validates; never throws (an unexpected failure becomes MOE000).</summary>
        public static AnalysisResult Analyze(ParsedDeclaration decl, EquatableArray<AdditionalFileInfo> files, RuntimeInfo runtime, CancellationToken cancellationToken)
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

        private void Report(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] args)
        {
            diagnostics.Add(DiagnosticInfo.Create(descriptor, location ?? decl.ClassLocation, args));
            if (descriptor.DefaultSeverity == DiagnosticSeverity.Error) hasError = true;
        }

        private AnalysisResult Done(GeneratedModel? model)
            => new AnalysisResult(hasError ? null : model, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));

        private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        // ---- argument access ----

        private LocationInfo? Loc(ParsedAttribute? a, string name) => a?.Find(name)?.Location ?? a?.Location ?? decl.ClassLocation;

        private static LocationInfo? ElementLoc(ParsedArgument? arg, int index)
            => arg is not null && index < arg.ElementLocations.Count ? arg.ElementLocations[index] : arg?.Location;

        private static bool Given(ParsedAttribute? a, string name) => a?.Find(name) is not null;

        private static int Int(ParsedAttribute? a, string name, int fallback)
            => a?.Find(name)?.Value is { Kind: ValueKind.Int or ValueKind.Enum } v && v.Int >= int.MinValue && v.Int <= int.MaxValue ? (int)v.Int : fallback;

        /// <summary>A double argument; NaN and infinities are reported (MOE009) and replaced by <paramref name="fallback"/>.</summary>
        private double Double(ParsedAttribute? a, string name, double fallback, out bool ok)
        {
            ok = true;
            ParsedArgument? arg = a?.Find(name);
            if (arg is null) return fallback;
            double v = arg.Value.Kind switch { ValueKind.Double => arg.Value.Double, ValueKind.Int => arg.Value.Int, _ => fallback };
            if (double.IsNaN(v) || double.IsInfinity(v))
            {
                Report(D.NotFinite, arg.Location ?? a!.Location, name, double.IsNaN(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity");
                ok = false;
                return fallback;
            }
            return v;
        }

        private int? Enum(ParsedAttribute? a, string name, int fallback, string enumName, string[] names)
        {
            ParsedArgument? arg = a?.Find(name);
            if (arg is null) return fallback;
            long v = arg.Value.Int;
            if (v < 0 || v >= names.Length)
            {
                Report(D.UndefinedEnumValue, arg.Location ?? a!.Location, name, v, enumName, string.Join(", ", names));
                return null;
            }
            return (int)v;
        }

        private int[]? Ints(ParsedAttribute? a, string name)
            => a?.Find(name)?.Value is { Kind: ValueKind.IntArray } v ? v.Ints.ToArray() : null;

        // ---- the rules ----

        private AnalysisResult Run(CancellationToken cancellationToken)
        {
            if (decl.InternalError is not null)
            {
                Report(D.InternalError, decl.ClassLocation, decl.ClassName, decl.InternalError);
                return Done(null);
            }

            // The class.
            if (!decl.IsPartial) Report(D.NotPartial, decl.ClassLocation, decl.ClassName);
            if (decl.IsGeneric) Report(D.Generic, decl.ClassLocation, decl.ClassName);
            foreach (ContainingTypeInfo outer in decl.ContainingTypes)
                if (!outer.IsPartial) Report(D.ContainingNotPartial, outer.Location, decl.ClassName, outer.Name);
            if (decl.Kind != "class") Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, decl.Kind);
            else if (decl.IsStatic) Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, "is static");
            else if (decl.IsAbstract) Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, "is abstract");
            else if (decl.ExplicitBaseType is not null) Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, "derives from " + decl.ExplicitBaseType);

            // Attributes: one of each; those the compiler could not bind are reported by the compiler.
            var byName = new Dictionary<string, ParsedAttribute>(StringComparer.Ordinal);
            foreach (ParsedAttribute a in decl.Attributes)
            {
                if (byName.ContainsKey(a.Name)) { Report(D.DuplicateAttribute, a.Location, a.Name, decl.ClassName); continue; }
                byName[a.Name] = a;
                if (a.CompilerError) hasError = true;
            }
            ParsedAttribute? Get(string name) => byName.TryGetValue(name, out ParsedAttribute? a) && !a.CompilerError ? a : null;
            ParsedAttribute? moe = Get("MoeModel"), baseModel = Get("BaseModel"), experts = Get("ExpertsPerLayer"), router = Get("Router"),
                lora = Get("Lora"), loadBalance = Get("LoadBalance"), graphLosses = Get("GraphLosses");
            byName.TryGetValue("MoeModel", out ParsedAttribute? moeAny);
            LocationInfo? moeLocation = moeAny?.Location ?? decl.ClassLocation;

            int? placement = Enum(moe, "Placement", Dsl.FeedForward, "ExpertPlacement", Dsl.PlacementNames);
            bool reportParameters = moe?.Find("ReportParameters")?.Value is { Kind: ValueKind.Bool, Int: 1 };

            if (!byName.ContainsKey("BaseModel"))
                Report(D.MissingAttribute, moeLocation, decl.ClassName, "BaseModel", "the shape of the LLaMA base, e.g. [BaseModel(ConfigFile = \"config.json\")] or [BaseModel(Layers = 32, Hidden = 4096, ...)]");
            if (!byName.ContainsKey("Lora"))
                Report(D.MissingAttribute, moeLocation, decl.ClassName, "Lora", "the adapters, e.g. [Lora(Rank = 8, Alpha = 16, Targets = LoraTargets.All)]");
            bool hasRouter = byName.ContainsKey("Router"), hasExperts = byName.ContainsKey("ExpertsPerLayer");
            if (hasRouter && !hasExperts) Report(D.RouterWithoutExperts, byName["Router"].Location, decl.ClassName, "Router", "ExpertsPerLayer");
            if (hasExperts && !hasRouter) Report(D.RouterWithoutExperts, byName["ExpertsPerLayer"].Location, decl.ClassName, "ExpertsPerLayer", "Router");
            bool mixture = hasRouter && hasExperts;

            // Base shape.
            var shape = BaseShape(baseModel);
            cancellationToken.ThrowIfCancellationRequested();

            // LoRA.
            int rank = Int(lora, "Rank", 8);
            if (lora is not null && rank < 1) Report(D.RankBelowOne, Loc(lora, "Rank"), rank);
            double alpha = Double(lora, "Alpha", 16, out bool alphaOk);
            if (alphaOk && !(alpha > 0)) Report(D.AlphaNotPositive, Loc(lora, "Alpha"), F(alpha));
            double dropout = Double(lora, "Dropout", 0.05, out bool dropoutOk);
            if (dropoutOk && !(dropout >= 0 && dropout < 1)) Report(D.DropoutOutOfRange, Loc(lora, "Dropout"), F(dropout));
            int targets = Int(lora, "Targets", Dsl.AllTargets);
            if ((targets & ~Dsl.AllTargets) != 0)
                Report(D.UndefinedEnumValue, Loc(lora, "Targets"), "Targets", targets, "LoraTargets", "Q, K, V, O, Gate, Up, Down and their combinations");
            else if (lora is not null && targets == 0)
                Report(D.NoTargets, Loc(lora, "Targets"), "LoraTargets.None");

            // Router.
            int? kindOrNull = Enum(router, "kind", Dsl.TopK, "RouterKind", Dsl.RouterNames);
            int kind = kindOrNull ?? Dsl.TopK;
            bool routerOk = router is not null && kindOrNull is not null;
            int topK = Int(router, "TopK", 2);
            bool topKGiven = Given(router, "TopK");
            double topP = Double(router, "TopP", 0.8, out bool topPOk);
            double jitter = Double(router, "JitterNoise", 0, out bool jitterOk);
            double capacity = Double(router, "CapacityFactor", 1.0, out bool capacityOk);
            double zLoss = Double(router, "ZLossCoefficient", 0.001, out bool zLossOk);
            int graphHidden = Int(router, "GraphHidden", 128);
            int graphLayers = Int(router, "GraphLayers", 2);
            double graphDensity = Double(router, "GraphDensity", 0.25, out bool densityOk);
            if (routerOk)
            {
                string kindName = Dsl.RouterNames[kind];
                void Ignored(string name) { if (Given(router, name)) Report(D.IgnoredArgument, Loc(router, name), name, kindName); }
                if (kind is Dsl.TopK or Dsl.Graph && topK < 1) Report(D.TopKBelowOne, Loc(router, "TopK"), topK);
                if (kind == Dsl.Switch && topKGiven && topK != 1) Report(D.SwitchTopK, Loc(router, "TopK"), topK);
                if (kind is Dsl.TopP or Dsl.Soft) Ignored("TopK");
                if (kind == Dsl.TopP) { if (topPOk && !(topP > 0 && topP <= 1)) Report(D.TopPOutOfRange, Loc(router, "TopP"), F(topP)); }
                else Ignored("TopP");
                if (jitterOk && !(jitter >= 0 && jitter < 1)) Report(D.JitterOutOfRange, Loc(router, "JitterNoise"), F(jitter));
                else if (kind == Dsl.Graph) Ignored("JitterNoise");
                if (kind == Dsl.Switch)
                {
                    if (capacityOk && !(capacity > 0)) Report(D.CapacityNotPositive, Loc(router, "CapacityFactor"), F(capacity));
                    if (zLossOk && !(zLoss >= 0)) Report(D.ZLossNegative, Loc(router, "ZLossCoefficient"), F(zLoss));
                }
                else { Ignored("CapacityFactor"); Ignored("ZLossCoefficient"); }
                if (kind == Dsl.Graph)
                {
                    if (graphHidden < 1) Report(D.GraphSizeBelowOne, Loc(router, "GraphHidden"), "GraphHidden", graphHidden);
                    if (graphLayers < 1) Report(D.GraphSizeBelowOne, Loc(router, "GraphLayers"), "GraphLayers", graphLayers);
                    if (densityOk && !(graphDensity > 0 && graphDensity <= 1)) Report(D.GraphDensityOutOfRange, Loc(router, "GraphDensity"), F(graphDensity));
                    if (placement == Dsl.EveryProjection)
                        Report(D.GraphEveryProjection, moe?.Find("Placement")?.Location ?? Loc(router, "kind"));
                }
                else { Ignored("GraphHidden"); Ignored("GraphLayers"); Ignored("GraphDensity"); }
                if (!runtime.HasRuntime) { }
                else if (kind == Dsl.TopP && !runtime.HasTopP) Report(D.RouterNotAvailable, Loc(router, "kind"), kindName, "MoeDsl.Runtime.Routing.TopPRouter");
                else if (kind == Dsl.Switch && !runtime.HasSwitch) Report(D.RouterNotAvailable, Loc(router, "kind"), kindName, "MoeDsl.Runtime.Routing.SwitchRouter");
                else if (kind == Dsl.Soft && !runtime.HasSoft) Report(D.RouterNotAvailable, Loc(router, "kind"), kindName, "MoeDsl.Runtime.Routing.SoftRouter");
                else if (kind == Dsl.Graph && !runtime.HasGraph) Report(D.RouterNotAvailable, Loc(router, "kind"), kindName, "MoeDsl.Runtime.Routing.GraphRouter");
            }
            if (!runtime.HasRuntime) Report(D.RuntimeNotReferenced, moeLocation, decl.ClassName);

            // Placement against targets.
            if (mixture && placement == Dsl.FeedForward && lora is not null && targets != 0 && (targets & ~Dsl.AllTargets) == 0)
            {
                int ffn = targets & Dsl.FeedForwardTargets;
                if (ffn == 0) Report(D.FeedForwardWithoutFfnTargets, Loc(lora, "Targets"), Dsl.TargetsExpression(targets).Replace("global::MoeDsl.", ""));
                else if (ffn != Dsl.FeedForwardTargets)
                {
                    var missing = Dsl.Projections.Where(p => (p.Flag & Dsl.FeedForwardTargets) != 0 && (targets & p.Flag) == 0).Select(p => p.Member);
                    Report(D.PartialFfnTargets, Loc(lora, "Targets"), Dsl.TargetsExpression(targets).Replace("global::MoeDsl.", ""), string.Join(", ", missing));
                }
            }

            // Allocation.
            int layers = shape?.Layers ?? 0;
            int[]? expertsPerLayer = null, topKPerLayer = null, ranksPerLayer = null;
            if (experts is not null) Allocation(experts, shape is not null ? layers : (int?)null, out expertsPerLayer, out topKPerLayer, out ranksPerLayer);
            if (shape is not null && lora is not null && rank >= 1)
            {
                ranksPerLayer ??= Enumerable.Repeat(rank, layers).ToArray();
            }

            // Per-layer checks of the router against the allocation.
            if (routerOk && expertsPerLayer is not null && topKPerLayer is not null)
            {
                ParsedArgument? groupTopK = experts!.Find("TopK");
                int groups = GroupCount(experts, layers);
                if (groupTopK?.Value is { Kind: ValueKind.IntArray })
                {
                    if (kind == Dsl.Switch)
                    {
                        for (int g = 0; g < groupTopK.Value.Ints.Count; g++)
                            if (groupTopK.Value.Ints[g] != 1) { Report(D.SwitchTopK, ElementLoc(groupTopK, g), groupTopK.Value.Ints[g]); break; }
                    }
                    else if (kind is Dsl.TopP or Dsl.Soft) Report(D.IgnoredArgument, groupTopK.Location ?? experts.Location, "ExpertsPerLayer.TopK", Dsl.RouterNames[kind]);
                }
                if (kind is Dsl.TopK or Dsl.Graph)
                {
                    for (int l = 0; l < layers; l++)
                    {
                        if (topKPerLayer[l] >= 1 && topKPerLayer[l] > expertsPerLayer[l])
                        {
                            LocationInfo? where = groupTopK?.Value is { Kind: ValueKind.IntArray } ? ElementLoc(groupTopK, l / (layers / groups)) : Loc(router, "TopK");
                            Report(D.TopKAboveExperts, where, topKPerLayer[l], expertsPerLayer[l], l);
                            break;
                        }
                    }
                }
                if (kind == Dsl.Graph)
                {
                    for (int l = 0; l < layers; l++)
                    {
                        if (expertsPerLayer[l] < 2)
                        {
                            Report(D.GraphTooFewExperts, CountLocation(experts, l / (layers / groups)), l, expertsPerLayer[l]);
                            break;
                        }
                    }
                }
            }

            // Warning: many experts for the rank.
            if (expertsPerLayer is not null && ranksPerLayer is not null)
            {
                int groups = GroupCount(experts!, layers);
                var seen = new HashSet<(int, int)>();
                for (int l = 0; l < layers; l++)
                {
                    long limit = 8L * ranksPerLayer[l];
                    if (expertsPerLayer[l] > limit && seen.Add((expertsPerLayer[l], ranksPerLayer[l])))
                        Report(D.ManyExpertsForRank, CountLocation(experts!, l / (layers / groups)), l, expertsPerLayer[l], ranksPerLayer[l], limit);
                }
            }

            // Losses.
            double? loadBalanceCoefficient = null;
            if (loadBalance is not null)
            {
                double c = Double(loadBalance, "coefficient", 0.001, out bool cOk);
                if (cOk && !(c > 0)) Report(D.LoadBalanceNotPositive, Loc(loadBalance, "coefficient"), F(c));
                if (!mixture) Report(D.LoadBalanceWithoutExperts, loadBalance.Location, decl.ClassName);
                loadBalanceCoefficient = c;
            }
            double? poisson = null, normal = null;
            double lambda = 1.5;
            int form = 0;
            if (graphLosses is not null)
            {
                if (!hasRouter || (routerOk && kind != Dsl.Graph))
                    Report(D.GraphLossesWithoutGraph, graphLosses.Location, decl.ClassName, hasRouter ? "uses RouterKind." + Dsl.RouterNames[kind] : "declares no router");
                double p = Double(graphLosses, "Poisson", 0.005, out bool pOk);
                double n = Double(graphLosses, "Normal", 8, out bool nOk);
                lambda = Double(graphLosses, "Lambda", 1.5, out bool lOk);
                if (pOk && !(p >= 0)) Report(D.GraphLossValueOutOfRange, Loc(graphLosses, "Poisson"), "Poisson", F(p), "is negative; a loss coefficient must be >= 0");
                if (nOk && !(n >= 0)) Report(D.GraphLossValueOutOfRange, Loc(graphLosses, "Normal"), "Normal", F(n), "is negative; a loss coefficient must be >= 0");
                if (lOk && !(lambda >= 1 && lambda <= 2)) Report(D.GraphLossValueOutOfRange, Loc(graphLosses, "Lambda"), "Lambda", F(lambda), "is outside [1, 2], the range lambda is clamped to");
                if (pOk && nOk && p == 0 && n == 0) Report(D.GraphLossesOff, graphLosses.Location);
                form = Enum(graphLosses, "Form", 0, "GraphLossForm", Dsl.FormNames) ?? 0;
                poisson = p;
                normal = n;
            }

            if (hasError || shape is null || placement is null || lora is null || ranksPerLayer is null) return Done(null);
            if (mixture && (expertsPerLayer is null || topKPerLayer is null)) return Done(null);

            // Trainable parameters.
            var perLayer = new long[layers];
            long total = 0;
            int effectiveRouter = mixture ? kind : -1;
            try
            {
                for (int l = 0; l < layers; l++)
                {
                    perLayer[l] = ParameterCount.Layer(placement.Value, effectiveRouter, targets, shape.Hidden, shape.Intermediate, (long)shape.KvHeads * (shape.Hidden / shape.Heads),
                        mixture ? expertsPerLayer![l] : 0, ranksPerLayer[l], graphHidden, graphLayers, graphLosses is not null);
                    total = checked(total + perLayer[l]);
                }
            }
            catch (OverflowException)
            {
                Report(D.ParameterCountOverflow, moeLocation);
                return Done(null);
            }
            if (reportParameters) ReportParameters(moe, perLayer, total, mixture ? expertsPerLayer : null, mixture ? topKPerLayer : null, ranksPerLayer);

            var model = new GeneratedModel(
                decl.Namespace, decl.ClassName, decl.HintName, decl.ContainingTypes,
                placement.Value, effectiveRouter, targets, alpha, dropout,
                shape.Layers, shape.Hidden, shape.Intermediate, shape.Heads, shape.KvHeads, shape.Vocab,
                new EquatableArray<int>(mixture ? expertsPerLayer! : Array.Empty<int>()),
                new EquatableArray<int>(mixture ? topKPerLayer! : Array.Empty<int>()),
                new EquatableArray<int>(ranksPerLayer),
                topP, jitter, capacity, zLoss, loadBalanceCoefficient, graphHidden, graphLayers, graphDensity,
                poisson, normal, lambda, form, total);
            return Done(model);

            LocationInfo? CountLocation(ParsedAttribute a, int group)
                => a.Find("counts") is { } c ? ElementLoc(c, group) : Loc(a, "preset");
        }

        private void ReportParameters(ParsedAttribute? moe, long[] perLayer, long total, int[]? experts, int[]? topK, int[] ranks)
        {
            LocationInfo? where = Loc(moe, "ReportParameters");
            int start = 0;
            for (int l = 1; l <= perLayer.Length; l++)
            {
                bool same = l < perLayer.Length && perLayer[l] == perLayer[start] && ranks[l] == ranks[start]
                    && (experts is null || (experts[l] == experts[start] && topK![l] == topK[start]));
                if (same) continue;
                string layersText = l - 1 == start ? $"layer {start}" : $"layers {start}-{l - 1}";
                string shapeText = experts is null ? $"plain LoRA rank {ranks[start]}" : $"{experts[start]} experts, top-k {topK![start]}, rank {ranks[start]}";
                Report(D.ParametersPerLayer, where, decl.ClassName + " " + layersText,
                    $"{shapeText}: {perLayer[start].ToString("N0", CultureInfo.InvariantCulture)} trainable parameters per layer ({(perLayer[start] * (l - start)).ToString("N0", CultureInfo.InvariantCulture)} in all)");
                start = l;
            }
            Report(D.ParametersPerLayer, where, decl.ClassName, $"{total.ToString("N0", CultureInfo.InvariantCulture)} trainable parameters in total");
        }

        private static int GroupCount(ParsedAttribute experts, int layers)
        {
            int n = experts.Find("counts")?.Value is { Kind: ValueKind.IntArray } v ? v.Ints.Count : 4;
            return n == 0 ? 1 : n;
        }

        /// <summary>Largest layer count the generator accepts (it writes per-layer tables).</summary>
        public const int MaxLayers = 1024;

        private sealed record Shape(int Layers, int Hidden, int Intermediate, int Heads, int KvHeads, int Vocab);

        private static readonly (string Arg, string Json)[] ShapeFields =
        {
            ("Layers", "num_hidden_layers"), ("Hidden", "hidden_size"), ("Intermediate", "intermediate_size"),
            ("Heads", "num_attention_heads"), ("KvHeads", "num_key_value_heads"), ("Vocab", "vocab_size"),
        };

        /// <summary>The base shape from [BaseModel] and/or its ConfigFile; null when it is missing or invalid.</summary>
        private Shape? BaseShape(ParsedAttribute? a)
        {
            if (a is null) return null;
            var values = new int[6];
            var fromConfig = new bool[6];
            for (int i = 0; i < 6; i++) values[i] = Int(a, ShapeFields[i].Arg, 0);

            ParsedArgument? configArg = a.Find("ConfigFile");
            string? configFile = configArg?.Value.Kind == ValueKind.String ? configArg.Value.Text : null;
            if (configFile is not null)
            {
                AdditionalFileInfo? file = FindFile(configFile);
                if (file is null || file.Text is null)
                {
                    Report(D.ConfigFileNotFound, configArg!.Location ?? a.Location, configFile);
                    return null;
                }
                var members = ConfigJson.Parse(file.Text, out string? error);
                if (members is null)
                {
                    Report(D.ConfigFileInvalidJson, configArg!.Location ?? a.Location, configFile, error ?? "");
                    return null;
                }
                bool ok = true;
                for (int i = 0; i < 6; i++)
                {
                    string field = ShapeFields[i].Json;
                    if (!members.TryGetValue(field, out ConfigJson.Member m) || m.Kind == "null")
                    {
                        if (i == 4) { continue; }   // num_key_value_heads is optional (defaults to the heads)
                        Report(D.ConfigFileBadField, configArg!.Location ?? a.Location, configFile, field, "is missing; a LLaMA config.json gives it as an integer");
                        ok = false;
                        continue;
                    }
                    if (!ConfigJson.TryGetInt(m, out int v, out string? problem))
                    {
                        Report(D.ConfigFileBadField, configArg!.Location ?? a.Location, configFile, field, problem!);
                        ok = false;
                        continue;
                    }
                    if (Given(a, ShapeFields[i].Arg) && values[i] != v && !(i == 4 && values[i] == 0))
                    {
                        Report(D.ConfigFileDisagrees, Loc(a, ShapeFields[i].Arg), ShapeFields[i].Arg, values[i], configFile, field, v);
                        ok = false;
                    }
                    values[i] = v;
                    fromConfig[i] = true;
                }
                if (!members.ContainsKey("num_key_value_heads") || members["num_key_value_heads"].Kind == "null")
                {
                    if (values[4] == 0) values[4] = values[3];
                }
                if (!ok) return null;
            }
            if (values[4] == 0 && !fromConfig[4]) values[4] = values[3];   // KvHeads 0 = same as Heads

            bool positive = true;
            for (int i = 0; i < 6; i++)
            {
                if (values[i] > 0) continue;
                positive = false;
                LocationInfo? where = fromConfig[i] ? configArg?.Location : Loc(a, ShapeFields[i].Arg);
                string note = fromConfig[i] ? $" (read from {configFile}: {ShapeFields[i].Json})"
                    : Given(a, ShapeFields[i].Arg) ? "" : " (it is not set: give it, or ConfigFile naming the checkpoint's config.json)";
                Report(D.SizeNotPositive, where, ShapeFields[i].Arg, values[i], note);
            }
            if (!positive) return null;
            if (values[0] > MaxLayers) { Report(D.TooManyLayers, ShapeLoc(0), values[0], MaxLayers); return null; }
            LocationInfo? ShapeLoc(int i) => fromConfig[i] ? configArg?.Location ?? a.Location : Loc(a, ShapeFields[i].Arg);
            if (values[1] % values[3] != 0) { Report(D.HiddenNotDivisibleByHeads, ShapeLoc(3), values[1], values[3]); return null; }
            if (values[3] % values[4] != 0) { Report(D.HeadsNotDivisibleByKvHeads, ShapeLoc(4), values[3], values[4]); return null; }
            if (values[1] / values[3] % 2 != 0) { Report(D.OddHeadDim, ShapeLoc(1), values[1] / values[3]); return null; }
            return new Shape(values[0], values[1], values[2], values[3], values[4], values[5]);
        }

        private AdditionalFileInfo? FindFile(string configFile)
        {
            string wanted = configFile.Replace('\\', '/');
            while (wanted.StartsWith("./", StringComparison.Ordinal)) wanted = wanted.Substring(2);
            if (wanted.Length == 0) return null;
            AdditionalFileInfo? best = null;
            foreach (AdditionalFileInfo f in files)
            {
                string path = f.Path.Replace('\\', '/');
                if (string.Equals(path, wanted, StringComparison.Ordinal) || path.EndsWith("/" + wanted, StringComparison.Ordinal))
                    if (best is null || f.Path.Length < best.Path.Length) best = f;
            }
            return best;
        }

        /// <summary>Expert counts, top-k and ranks per layer. <paramref name="layers"/> null: the base shape is invalid,
        /// check only what does not depend on it.</summary>
        private void Allocation(ParsedAttribute a, int? layers, out int[]? experts, out int[]? topK, out int[]? ranks)
        {
            experts = topK = ranks = null;
            int[]? counts = null;
            ParsedArgument? countsArg = a.Find("counts");
            if (countsArg is not null) counts = countsArg.Value.Kind == ValueKind.IntArray ? countsArg.Value.Ints.ToArray() : Array.Empty<int>();
            else if (a.Find("preset") is not null)
            {
                int? preset = Enum(a, "preset", 0, "AllocationPreset", Dsl.PresetNames);
                if (preset is null) return;
                counts = Dsl.Presets[preset.Value];
            }
            if (counts is null) return;
            bool ok = true;
            if (counts.Length == 0) { Report(D.NoExpertCounts, countsArg?.Location ?? a.Location); return; }
            for (int i = 0; i < counts.Length; i++)
                if (counts[i] < 1) { Report(D.ExpertCountBelowOne, ElementLoc(countsArg, i) ?? a.Location, counts[i], i); ok = false; }

            int[]? groupTopK = PerGroup("TopK", counts.Length, ref ok);
            int[]? groupRanks = PerGroup("Ranks", counts.Length, ref ok);
            if (layers is not int n) return;
            if (counts.Length > n) { Report(D.TooManyExpertCounts, countsArg?.Location ?? a.Location, counts.Length, n); return; }
            if (n % counts.Length != 0)
            {
                var divisors = Enumerable.Range(1, n).Where(d => n % d == 0);
                int g = counts.Length;
                var multiples = Enumerable.Range(Math.Max(1, n / g - 1), 4).Select(k => k * g).Where(m => m > 0);
                Report(D.GroupsDoNotDivideLayers, countsArg?.Location ?? a.Location, g, n, string.Join(", ", divisors), string.Join(", ", multiples));
                return;
            }
            if (!ok) return;
            int size = n / counts.Length;
            experts = new int[n];
            topK = new int[n];
            ranks = groupRanks is null ? null : new int[n];
            int routerTopK = 2;
            for (int l = 0; l < n; l++)
            {
                experts[l] = counts[l / size];
                if (groupRanks is not null) ranks![l] = groupRanks[l / size];
            }
            RouterTopK(ref routerTopK);
            for (int l = 0; l < n; l++) topK[l] = groupTopK is not null ? groupTopK[l / size] : routerTopK;
            if (RouterKindOf() is int kind && kind is Dsl.Switch) for (int l = 0; l < n; l++) topK[l] = 1;
            if (RouterKindOf() is int k2 && k2 is Dsl.TopP or Dsl.Soft) for (int l = 0; l < n; l++) topK[l] = experts[l];

            int[]? PerGroup(string name, int count, ref bool valid)
            {
                ParsedArgument? arg = a.Find(name);
                if (arg is null || arg.Value.Kind != ValueKind.IntArray) return null;
                int[] values = arg.Value.Ints.ToArray();
                if (values.Length != count)
                {
                    Report(D.PerGroupLengthMismatch, arg.Location ?? a.Location, name, values.Length, count);
                    valid = false;
                    return null;
                }
                for (int i = 0; i < values.Length; i++)
                    if (values[i] < 1) { Report(D.PerGroupValueBelowOne, ElementLoc(arg, i) ?? a.Location, name, values[i], i); valid = false; }
                return values;
            }
        }

        private int? RouterKindOf()
        {
            foreach (ParsedAttribute a in decl.Attributes)
                if (a.Name == "Router" && !a.CompilerError)
                    return a.Find("kind")?.Value.Int is long v && v >= 0 && v < Dsl.RouterNames.Length ? (int)v : null;
            return null;
        }

        private void RouterTopK(ref int topK)
        {
            foreach (ParsedAttribute a in decl.Attributes)
                if (a.Name == "Router" && !a.CompilerError) { topK = Int(a, "TopK", 2); return; }
        }
    }
}
