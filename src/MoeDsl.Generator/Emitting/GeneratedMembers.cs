using System;
using System.Collections.Generic;

#if MOEDSL_GENERATOR
namespace MoeDsl.Generator.Emitting
#else
namespace MoeDsl.Runtime.Declarations.Emitting
#endif
{
    /// <summary>One member the emitter adds to a model class. <paramref name="Parameters"/> is null for a member that is
    /// not a method (a constant or a property): any user member of that name clashes with it. For a method or the
    /// constructor it lists the parameter types (fully qualified, as the generated code writes them): a user
    /// method of that name clashes only with the same parameter types (another signature is a legal overload).</summary>
    internal sealed record GeneratedMember(string Name, string[]? Parameters, string Description)
    {
        /// <summary>The parameter list as the parser writes a user method's ("(int)"), null for a non-method.</summary>
        public string? Signature => Parameters is null ? null : "(" + string.Join(", ", Parameters) + ")";
    }

    /// <summary>The members the emitter writes into every model class: the one list that <c>Emitter</c> takes
    /// the names from and that the member-clash rule (MOE017) checks the user's members against.</summary>
    internal static class GeneratedMembers
    {
        public const string Layers = "Layers";
        public const string Hidden = "Hidden";
        public const string Intermediate = "Intermediate";
        public const string Heads = "Heads";
        public const string KvHeads = "KvHeads";
        public const string HeadDim = "HeadDim";
        public const string Vocab = "Vocab";
        public const string TrainableParameters = "TrainableParameters";
        public const string ExpertsInLayer = "ExpertsInLayer";
        public const string Spec = "Spec";
        public const string FromPretrained = "FromPretrained";
        public const string Create = "Create";
        public const string TrainingOptions = "TrainingOptions";
        public const string FineTune = "FineTune";

        /// <summary>The metadata name of an instance constructor.</summary>
        public const string Constructor = ".ctor";

        /// <summary>Parameter types as written in the generated code and in signatures (fully qualified, no nullability).</summary>
        public const string LlamaConfigType = "global::MoeDsl.Runtime.IO.LlamaConfig";
        public const string DeviceType = "global::TorchSharp.torch.Device";
        public const string ScalarTypeType = "global::TorchSharp.torch.ScalarType";

        public static readonly GeneratedMember[] All =
        {
            new GeneratedMember(Layers, null, "the constant Layers"),
            new GeneratedMember(Hidden, null, "the constant Hidden"),
            new GeneratedMember(Intermediate, null, "the constant Intermediate"),
            new GeneratedMember(Heads, null, "the constant Heads"),
            new GeneratedMember(KvHeads, null, "the constant KvHeads"),
            new GeneratedMember(HeadDim, null, "the constant HeadDim"),
            new GeneratedMember(Vocab, null, "the constant Vocab"),
            new GeneratedMember(TrainableParameters, null, "the constant TrainableParameters"),
            new GeneratedMember(ExpertsInLayer, new[] { "int" }, "the method ExpertsInLayer(int)"),
            new GeneratedMember(Spec, null, "the property Spec"),
            new GeneratedMember(FromPretrained, new[] { "string", DeviceType, ScalarTypeType + "?" }, "the method FromPretrained(string, Device?, ScalarType?)"),
            new GeneratedMember(Create, new[] { LlamaConfigType }, "the method Create(LlamaConfig)"),
            new GeneratedMember(Constructor, new[] { LlamaConfigType }, "the private constructor taking a LlamaConfig"),
            new GeneratedMember(TrainingOptions, null, "the nested record TrainingOptions"),
            // Listed without parameters: its parameter type is the class's own nested TrainingOptions, so any member named
            // FineTune is refused (an overload would be ambiguous with the generated one for a null options argument).
            new GeneratedMember(FineTune, null, "the method FineTune(TrainingData, TrainingOptions?)"),
        };

        private static readonly HashSet<string> Names = NamesOf(All);

        private static HashSet<string> NamesOf(GeneratedMember[] members)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (GeneratedMember m in members) names.Add(m.Name);
            return names;
        }

        /// <summary>Whether the generated code declares a member named <paramref name="name"/> (metadata name).</summary>
        public static bool IsGeneratedName(string name) => Names.Contains(name);

        /// <summary>The generated member that a user member of this name and signature (null: not a method) collides
        /// with, or null. A non-method clashes with any generated member of its name; a method clashes with a generated
        /// non-method of its name, or with a generated method of its name and parameter types.</summary>
        public static GeneratedMember? ClashWith(string name, string? signature)
        {
            foreach (GeneratedMember g in All)
            {
                if (!string.Equals(g.Name, name, StringComparison.Ordinal)) continue;
                if (signature is null || g.Signature is null || string.Equals(g.Signature, signature, StringComparison.Ordinal)) return g;
            }
            return null;
        }
    }
}
