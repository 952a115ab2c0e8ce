#if MOEDSL_GENERATOR
namespace MoeDsl.Generator.Diagnostics
#else
namespace MoeDsl.Runtime.Declarations.Diagnostics
#endif
{
    /// <summary>Every diagnostic the MoeDsl generator reports, as Roslyn-free rules (the generator turns them into
    /// descriptors, <c>RoslynDescriptors</c>; the runtime's JSON declaration specs report the same rules). docs/diagnostics.md has an example and the fix for each;
    /// AnalyzerReleases.Unshipped.md lists them (the build checks the two agree; DiagnosticDocsTests checks the catalog,
    /// the docs and the release files agree).</summary>
    internal static class DiagnosticDescriptors
    {
        /// <summary>The page that documents every id, as a path from the repository root (the repository has no
        /// canonical web address, so the link names the file in the checkout rather than a guessed URL).</summary>
        internal const string HelpDocument = "docs/diagnostics.md";

        /// <summary>The id's own section of <see cref="HelpDocument"/>: each id is a heading of its own there ("### MOE013"), whose
        /// GitHub anchor is the lower-case id ("#moe013").</summary>
        internal static string HelpLink(string id) => HelpDocument + "#" + id.ToLowerInvariant();

        private static DiagnosticRule Error(string id, string title, string message, string help)
            => new DiagnosticRule(id, title, message, RuleSeverity.Error, help);

        private static DiagnosticRule Warning(string id, string title, string message, string help)
            => new DiagnosticRule(id, title, message, RuleSeverity.Warning, help);

        // ---- internal ----
        public static readonly DiagnosticRule InternalError = Error("MOE000", "MoeDsl generator internal error",
            "The MoeDsl generator failed on '{0}': {1}",
            "The generator hit an unexpected condition; nothing was generated for this class. Please report it with the declaration.");

        // ---- the class ----
        public static readonly DiagnosticRule NotPartial = Error("MOE001", "A MoeDsl model class must be partial",
            "Class '{0}' must be declared 'partial' so that the generator can complete it",
            "Add the 'partial' modifier to the class declaration.");
        public static readonly DiagnosticRule Generic = Error("MOE002", "A MoeDsl model class must not be generic",
            "Class '{0}' has type parameters; a model class has one fixed architecture and cannot be generic",
            "Remove the type parameters, or declare one non-generic class per architecture.");
        public static readonly DiagnosticRule ContainingNotPartial = Error("MOE003", "A MoeDsl model class must nest only in partial types",
            "'{0}' is nested in '{1}', which is not partial; the generator cannot add members to it",
            "Make every containing type partial, or move the model class to namespace level.");
        public static readonly DiagnosticRule NotPlainClass = Error("MOE004", "A MoeDsl model must be a plain class",
            "'{0}' {1}; a model is a non-static, non-abstract class with no base class of its own (it derives from MoeCausalLM)",
            "Declare 'public partial class Name { }' without 'static', 'abstract', 'record' or a base class.");

        public static readonly DiagnosticRule FileLocal = Error("MOE016", "A MoeDsl model class cannot be file-local",
            "'{0}' {1}; the partial declarations of a file-local type must all be in one file, so the generator cannot complete it in its own file. Remove 'file' (use 'internal' to keep the model inside its assembly).",
            "A 'file' type's partial declarations must all be in one file; the generated completion is a file of its own. Declare the model (and every type it is nested in) without 'file': 'internal' keeps it inside the assembly.");
        public static readonly DiagnosticRule MemberClash = Error("MOE017", "Member name taken by the generated code",
            "'{0}' declares {1}, but the generator also declares {2} in '{0}'; rename or remove the member",
            "The generator writes these members into every model class: the constants Layers, Hidden, Intermediate, Heads, KvHeads, HeadDim, Vocab and TrainableParameters, the property Spec, the methods ExpertsInLayer(int), FromPretrained(string, Device?, ScalarType?) and Create(LlamaConfig), a private constructor taking a LlamaConfig, the nested record TrainingOptions and the method FineTune(TrainingData, TrainingOptions?). Rename the member (a method with other parameters is a legal overload, except for FineTune, whose name is taken whole).");
        public static readonly DiagnosticRule NestedInGeneric = Error("MOE018", "A MoeDsl model class must not nest in a generic type",
            "'{0}' is nested in generic type '{1}'; a model class has one fixed architecture, but a class inside a generic type is a different type for each type argument",
            "Move the model class out of the generic type: to namespace level, or into a non-generic partial type.");

        // ---- attributes present / absent ----
        public static readonly DiagnosticRule MissingAttribute = Error("MOE005", "A required attribute is missing",
            "Model '{0}' needs [{1}]: {2}",
            "Every model needs [BaseModel] (the base shape) and [Lora] (the adapters). Add the attribute named in the message.");
        public static readonly DiagnosticRule RouterWithoutExperts = Error("MOE006", "[Router] and [ExpertsPerLayer] go together",
            "Model '{0}' has [{1}] but no [{2}]; a mixture needs both, plain LoRA needs neither",
            "Add the missing attribute to declare a mixture of experts, or remove the present one for plain LoRA.");
        public static readonly DiagnosticRule DuplicateAttribute = Error("MOE007", "Conflicting attribute",
            "[{0}] is applied more than once to '{1}'; keep one",
            "Each MoeDsl attribute says one thing about the model; remove the duplicate (also across partial declarations).");
        public static readonly DiagnosticRule UndefinedEnumValue = Error("MOE008", "Undefined enum value",
            "{0} = {1} is not a defined {2} value; use one of: {3}",
            "Cast integers to a DSL enum only for defined members; pick one of the listed names.");
        public static readonly DiagnosticRule NotFinite = Error("MOE009", "Not a finite number",
            "{0} is {1}; it must be a finite number",
            "NaN and infinities are never valid hyperparameters; write a finite value.");

        // ---- ExpertsPerLayer ----
        public static readonly DiagnosticRule NoExpertCounts = Error("MOE010", "ExpertsPerLayer is empty",
            "[ExpertsPerLayer] gives no expert counts",
            "Give one count per group of layers, e.g. [ExpertsPerLayer(2, 4, 6, 8)], one per layer, or a preset such as AllocationPreset.InvertedTriangle.");
        public static readonly DiagnosticRule ExpertCountBelowOne = Error("MOE011", "Expert count below 1",
            "Expert count {0} at position {1} is below 1; every layer of a mixture needs at least one expert",
            "Use counts of 1 or more; for layers without experts declare plain LoRA instead.");
        public static readonly DiagnosticRule TooManyExpertCounts = Error("MOE012", "More expert counts than layers",
            "[ExpertsPerLayer] gives {0} counts but the base has {1} layers",
            "Give at most one count per layer: either exactly one per layer or one per group of layers.");
        public static readonly DiagnosticRule GroupsDoNotDivideLayers = Error("MOE013", "Groups do not divide the layers",
            "{0} groups cannot split {1} layers evenly; use a group count that divides {1} ({2}), or a base whose layer count is a multiple of {0} (e.g. {3})",
            "n counts are spread over n groups of layers/n consecutive layers each, so n must divide the layer count.");
        public static readonly DiagnosticRule PerGroupLengthMismatch = Error("MOE014", "Per-group list has the wrong length",
            "{0} gives {1} values but there are {2} expert counts; give one value per count",
            "TopK and Ranks on [ExpertsPerLayer] follow the counts: one value per group (or per layer when the counts are per layer).");
        public static readonly DiagnosticRule PerGroupValueBelowOne = Error("MOE015", "Per-group value below 1",
            "{0} value {1} at position {2} is below 1",
            "Top-k and rank must be at least 1 in every group.");

        // ---- Router ----
        public static readonly DiagnosticRule TopKBelowOne = Error("MOE020", "Top-k below 1",
            "TopK = {0} is below 1; the router must pick at least one expert",
            "Use TopK >= 1 (MixLoRA and MoLA use 2).");
        public static readonly DiagnosticRule TopKAboveExperts = Error("MOE021", "Top-k above the experts of a layer",
            "Top-k {0} exceeds the {1} experts of layer {2}; top-k must be at most the expert count of every layer",
            "Lower top-k to the smallest expert count, give per-group top-k with [ExpertsPerLayer(..., TopK = new[] {...})], or add experts.");
        public static readonly DiagnosticRule TopPOutOfRange = Error("MOE022", "TopP outside (0, 1]",
            "TopP = {0} is outside (0, 1]",
            "TopP is the probability mass the router keeps; MoE-PEFT uses 0.8.");
        public static readonly DiagnosticRule SwitchTopK = Error("MOE023", "Switch routes to one expert",
            "The Switch router sends each token to exactly one expert, but TopK = {0} was given",
            "Remove TopK (Switch always uses 1) or use RouterKind.TopK for top-k routing.");
        public static readonly DiagnosticRule GraphTooFewExperts = Error("MOE024", "Graph router needs at least 2 experts",
            "The Graph router needs at least 2 experts per layer, but layer {0} has {1}",
            "GMoE's graph links expert nodes to each other; give every layer 2 or more experts.");
        public static readonly DiagnosticRule GraphEveryProjection = Error("MOE025", "Graph router needs FeedForward placement",
            "The Graph router (GMoE) routes the FFN experts of a layer; it cannot be used with ExpertPlacement.EveryProjection",
            "Use Placement = ExpertPlacement.FeedForward with RouterKind.Graph, or another router kind with EveryProjection.");
        public static readonly DiagnosticRule GraphSizeBelowOne = Error("MOE026", "Graph size below 1",
            "{0} = {1} is below 1",
            "GraphHidden (GCN width g, default 128) and GraphLayers (GCN depth L, default 2) must be at least 1.");
        public static readonly DiagnosticRule GraphDensityOutOfRange = Error("MOE027", "GraphDensity outside (0, 1]",
            "GraphDensity = {0} is outside (0, 1]",
            "The expert-expert edge density rho (diagonal included) is a fraction; GMoE uses 0.25.");
        public static readonly DiagnosticRule CapacityNotPositive = Error("MOE028", "CapacityFactor not positive",
            "CapacityFactor = {0} must be greater than 0",
            "Switch capacity is ceil(factor * tokens / experts) per sequence; use a factor > 0 (1.0 by default).");
        public static readonly DiagnosticRule JitterOutOfRange = Error("MOE029", "JitterNoise outside [0, 1)",
            "JitterNoise = {0} is outside [0, 1)",
            "The router input is multiplied by U(1 - eps, 1 + eps) while training; eps must be in [0, 1) (0 = off).");
        public static readonly DiagnosticRule ZLossNegative = Error("MOE030", "ZLossCoefficient negative",
            "ZLossCoefficient = {0} is negative",
            "Use 0 to turn the Switch router z-loss off, or a positive coefficient (0.001 by default).");

        // ---- LoRA ----
        public static readonly DiagnosticRule RankBelowOne = Error("MOE031", "LoRA rank below 1",
            "Rank = {0} is below 1",
            "The LoRA rank r is the inner size of B A; use r >= 1 (8 is common).");
        public static readonly DiagnosticRule AlphaNotPositive = Error("MOE032", "LoRA alpha not positive",
            "Alpha = {0} must be greater than 0",
            "The update is scaled by alpha / r; use a positive alpha (often 2 r).");
        public static readonly DiagnosticRule DropoutOutOfRange = Error("MOE033", "LoRA dropout outside [0, 1)",
            "Dropout = {0} is outside [0, 1)",
            "Dropout is a probability of dropping an input; 1 would drop everything. Use 0 to turn it off.");
        public static readonly DiagnosticRule NoTargets = Error("MOE034", "No LoRA targets",
            "Targets = {0} selects no projection",
            "Pick the projections to adapt, e.g. LoraTargets.All, LoraTargets.Attention or LoraTargets.Q | LoraTargets.V.");
        public static readonly DiagnosticRule FeedForwardWithoutFfnTargets = Error("MOE035", "FeedForward placement without FFN targets",
            "Placement FeedForward puts the experts on the FFN, but Targets = {0} includes none of Gate, Up, Down",
            "Add LoraTargets.FeedForward to Targets, or use ExpertPlacement.EveryProjection to put experts on the targeted projections.");
        public static readonly DiagnosticRule PartialFfnTargets = Error("MOE036", "FeedForward placement needs all FFN projections",
            "Placement FeedForward gives every expert a LoRA on gate_proj, up_proj and down_proj, but Targets = {0} leaves out {1}",
            "MixLoRA experts adapt the whole SwiGLU FFN: target Gate | Up | Down (LoraTargets.FeedForward), or use EveryProjection placement for per-projection experts.");

        // ---- base shape ----
        public static readonly DiagnosticRule SizeNotPositive = Error("MOE040", "Base size not positive",
            "{0} = {1} must be a positive integer{2}",
            "Give the base shape ([BaseModel(Layers = 32, Hidden = 4096, ...)]) or ConfigFile naming the checkpoint's config.json.");
        public static readonly DiagnosticRule HiddenNotDivisibleByHeads = Error("MOE041", "Hidden size not divisible by heads",
            "Hidden = {0} is not divisible by Heads = {1}",
            "Without HeadDim the head dimension is hidden / heads; check both against the checkpoint's config.json, or give HeadDim (head_dim) when the family sets it apart.");
        public static readonly DiagnosticRule HeadsNotDivisibleByKvHeads = Error("MOE042", "Heads not divisible by key/value heads",
            "Heads = {0} is not divisible by KvHeads = {1}",
            "Grouped-query attention shares each key/value head among heads / kv_heads query heads; KvHeads must divide Heads.");
        public static readonly DiagnosticRule OddHeadDim = Error("MOE043", "Odd head dimension",
            "The head dimension {0} is odd; rotary embeddings need an even head dimension",
            "The head dimension is HeadDim (config.json's head_dim) when given, else Hidden / Heads; check them against the checkpoint's config.json.");
        public static readonly DiagnosticRule ConfigFileNotFound = Error("MOE044", "ConfigFile is not an AdditionalFiles item",
            "ConfigFile \"{0}\" is not among the project's AdditionalFiles",
            "Add <AdditionalFiles Include=\"path/config.json\" /> to the project; the generator reads it at compile time.");
        public static readonly DiagnosticRule ConfigFileInvalidJson = Error("MOE045", "ConfigFile is not valid JSON",
            "ConfigFile \"{0}\" is not valid JSON: {1}",
            "The file must be a Hugging Face config.json: one JSON object.");
        public static readonly DiagnosticRule ConfigFileBadField = Error("MOE046", "ConfigFile field missing or mistyped",
            "ConfigFile \"{0}\": field \"{1}\" {2}",
            "A config.json gives hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size (and optionally num_key_value_heads, head_dim) as integers, model_type as a string, rope_scaling as an object or null, tie_word_embeddings as true or false.");
        public static readonly DiagnosticRule ConfigFileDisagrees = Error("MOE047", "Size disagrees with ConfigFile",
            "{0} = {1} but ConfigFile \"{2}\" says {3} = {4}",
            "Remove the explicit size (ConfigFile gives it) or make the two agree.");
        public static readonly DiagnosticRule ConfigFileAmbiguous = Error("MOE054", "ConfigFile matches several AdditionalFiles items",
            "ConfigFile \"{0}\" is no file relative to the project and matches {1} AdditionalFiles items, among them \"{2}\" and \"{3}\"; give its path relative to the project",
            "ConfigFile is resolved relative to the declaring project's folder; a path that is no file there may name the end of exactly one AdditionalFiles path. Write the path from the project folder, e.g. ConfigFile = \"models/qwen3/config.json\".");
        public static readonly DiagnosticRule ParameterCountOverflow = Error("MOE048", "Trainable parameter count overflows",
            "The declaration has more than 2^63 trainable parameters",
            "Check the sizes, expert counts and ranks: they cannot describe a real model.");

        public static readonly DiagnosticRule TooManyLayers = Error("MOE049", "More layers than supported",
            "Layers = {0} is above the supported maximum of {1}",
            "The generator writes per-layer tables; real LLaMA-family models have at most a few hundred layers. Check the value.");

        // ---- losses ----
        public static readonly DiagnosticRule ParametersPerLayer = new DiagnosticRule("MOE050", "Trainable parameters per layer",
            "{0}: {1}", RuleSeverity.Info,
            "Reported when [MoeModel(ReportParameters = true)]: LoRA A/B and router parameters per layer (the frozen base excluded).");
        public static readonly DiagnosticRule LoadBalanceNotPositive = Error("MOE051", "LoadBalance coefficient not positive",
            "The load-balance coefficient {0} must be greater than 0",
            "Remove [LoadBalance] to turn the loss off, or use a positive coefficient (0.001 by default).");
        public static readonly DiagnosticRule GraphLossesWithoutGraph = Error("MOE052", "GraphLosses needs the Graph router",
            "[GraphLosses] applies to RouterKind.Graph, but '{0}' {1}",
            "GMoE's Poisson distinction and Normal balance are defined on the Graph router; use [Router(RouterKind.Graph)] or remove [GraphLosses].");
        public static readonly DiagnosticRule GraphLossValueOutOfRange = Error("MOE053", "GraphLosses value out of range",
            "{0} = {1} {2}",
            "Poisson and Normal are loss coefficients (>= 0); Lambda is the initial Poisson rate, clamped to [1, 2] during training.");

        // ---- warnings ----
        public static readonly DiagnosticRule ManyExpertsForRank = Warning("MOE060", "More experts than 8 x rank",
            "Layer {0} has {1} experts at LoRA rank {2} (more than 8 x rank = {3}); each expert sees few tokens and the layer holds more adapter weights than a plain LoRA of rank {1} x {2} would",
            "Legal but almost certainly a mistake: the published methods use at most 8 experts at ranks 8 to 16. Lower the count or raise the rank.");
        public static readonly DiagnosticRule GraphLossesOff = Warning("MOE061", "GraphLosses declared but both off",
            "[GraphLosses] has Poisson = 0 and Normal = 0, so neither GMoE loss is added",
            "Remove [GraphLosses] or give at least one positive coefficient (GMoE uses Poisson 0.005, Normal 8).");
        public static readonly DiagnosticRule LoadBalanceWithoutExperts = Warning("MOE062", "LoadBalance on a model without experts",
            "[LoadBalance] has no effect on '{0}', which has no router",
            "The load-balance loss balances routers; remove it, or declare [Router] and [ExpertsPerLayer].");
        public static readonly DiagnosticRule IgnoredArgument = Warning("MOE063", "Argument ignored by this router",
            "{0} has no effect with RouterKind.{1}",
            "Each router kind reads only its own settings (TopK: TopK, JitterNoise; TopP: TopP; Switch: CapacityFactor, ZLossCoefficient; Graph: TopK, Graph*). Remove the argument or change the router.");

        // ---- runtime availability ----
        public static readonly DiagnosticRule RuntimeNotReferenced = Error("MOE070", "MoeDsl.Runtime is not referenced",
            "Model '{0}' needs MoeDsl.Runtime (MoeDsl.Runtime.Modeling.MoeCausalLM was not found); nothing was generated",
            "Add the MoeDsl package (it carries the runtime with the generator), or reference the MoeDsl.Runtime project or assembly; the generated class derives from MoeCausalLM.");
        public static readonly DiagnosticRule RouterNotAvailable = Error("MOE071", "Router kind not available in the referenced runtime",
            "RouterKind.{0} is not available in the referenced MoeDsl.Runtime ({1} was not found)",
            "Update MoeDsl.Runtime to a version that implements this router, or pick RouterKind.TopK.");
        // ---- JSON declaration specs (the runtime's DeclarationSpec; the C# compiler's own errors play this part for attributes) ----
        public static readonly DiagnosticRule SpecInvalidJson = Error("MOE080", "Declaration spec is not valid JSON",
            "The spec is not valid JSON: {0}",
            "A declaration spec is one JSON object whose fields are the attributes (MoeModel, BaseModel, ExpertsPerLayer, Router, Lora, LoadBalance, GraphLosses) and an optional Name; see docs/declaration-specs.md.");
        public static readonly DiagnosticRule SpecUnknownField = Error("MOE081", "Unknown field in a declaration spec",
            "'{0}' is not a field of {1}; it has {2}",
            "Field names are the attributes' names and their arguments' names (matched without regard to case); remove or correct the field.");
        public static readonly DiagnosticRule SpecWrongType = Error("MOE082", "Declaration spec field of the wrong type",
            "{0} must be {1}, got {2}",
            "Give the field the JSON type of the attribute argument: integers, numbers, true/false, strings, enum names as strings (flags as \"Q | V\" or [\"Q\", \"V\"]), integer arrays, and an object per attribute.");
        public static readonly DiagnosticRule SpecFieldConflict = Error("MOE083", "Declaration spec field missing, repeated or in conflict",
            "{0} {1}",
            "Router needs its kind; ExpertsPerLayer takes counts or a preset, not both; a field appears once in its object.");
        public static readonly DiagnosticRule SpecConfigFileNotFound = Error("MOE084", "ConfigFile of a declaration spec not found",
            "ConfigFile \"{0}\" is not a readable file (looked for {1})",
            "In a spec, ConfigFile is a path relative to the spec file's folder (or absolute) of the checkpoint's config.json.");

        public static readonly DiagnosticRule FamilyNotImplemented = Error("MOE072", "Model family not implemented by the runtime",
            "ConfigFile \"{0}\" has model_type \"{1}\", a family MoeDsl.Runtime does not build; it builds {2}",
            "Declare the model on a checkpoint of a supported family (llama, mistral, qwen2, qwen3, gemma, gemma2, phi3), or give the sizes without ConfigFile if the checkpoint is one of them under another name.");
        public static readonly DiagnosticRule FeatureNotImplemented = Error("MOE073", "Model feature not implemented by the runtime",
            "ConfigFile \"{0}\": {1} \"{2}\" ({3}) is not implemented by MoeDsl.Runtime; it implements {4}",
            "The base would load with different positions than it was trained with. Use a checkpoint whose rope_scaling is null or of a listed type (Llama 3.1-3.3 use \"llama3\").");
    }
}
