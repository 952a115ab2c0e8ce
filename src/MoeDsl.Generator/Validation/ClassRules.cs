using System;
using System.Collections.Generic;

#if MOEDSL_GENERATOR
using MoeDsl.Generator.Emitting;
using MoeDsl.Generator.Model;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Generator.Validation
#else
using MoeDsl.Runtime.Declarations.Emitting;
using MoeDsl.Runtime.Declarations.Model;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Runtime.Declarations.Validation
#endif
{
    /// <summary>The class and its attributes: MOE001-MOE007, MOE016-MOE018.</summary>
    internal sealed partial class Validator
    {
        /// <summary>The MoeDsl attributes on the class (those the compiler could not bind are null here).</summary>
        private sealed class Attributes
        {
            public ParsedAttribute? Moe, BaseModel, Experts, Router, Lora, LoadBalance, GraphLosses;
            public ParsedAttribute? AnyRouter, AnyExperts;
            public LocationInfo? MoeLocation;
            public bool BaseModelDeclared, LoraDeclared;
            public bool HasRouter => AnyRouter is not null;
            public bool HasExperts => AnyExperts is not null;
            public bool Mixture => HasRouter && HasExperts;
        }

        /// <summary>MOE001 not partial, MOE002 generic, MOE018 nested in a generic type, MOE003 a containing type not
        /// partial, MOE016 file-local (itself or a containing type), MOE004 not a plain class, MOE017 a member named like
        /// a generated one.</summary>
        private void CheckClass()
        {
            if (!decl.IsPartial) Report(D.NotPartial, decl.ClassLocation, decl.ClassName);
            if (decl.IsGeneric) Report(D.Generic, decl.ClassLocation, decl.ClassName);
            foreach (ContainingTypeInfo outer in decl.ContainingTypes)
            {
                // The outermost generic container is named: moving the class out of it is the fix.
                if (outer.TypeParameters.Length > 0) { Report(D.NestedInGeneric, decl.ClassLocation, decl.ClassName, outer.DisplayName); break; }
            }
            foreach (ContainingTypeInfo outer in decl.ContainingTypes)
                if (!outer.IsPartial) Report(D.ContainingNotPartial, outer.Location, decl.ClassName, outer.Name);
            if (decl.IsFile) Report(D.FileLocal, decl.ClassLocation, decl.ClassName, "is declared 'file'");
            foreach (ContainingTypeInfo outer in decl.ContainingTypes)
                if (outer.IsFile) Report(D.FileLocal, outer.Location, decl.ClassName, $"is nested in file-local type '{outer.DisplayName}'");
            if (decl.Kind != "class") Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, decl.Kind);
            else if (decl.IsStatic) Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, "is static");
            else if (decl.IsAbstract) Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, "is abstract");
            else if (decl.ExplicitBaseType is not null) Report(D.NotPlainClass, decl.ClassLocation, decl.ClassName, "derives from " + decl.ExplicitBaseType);
            CheckMembers();
        }

        /// <summary>MOE017: a user member the generated completion would declare again (CS0102/CS0111 in generated code
        /// otherwise), reported on the user's member.</summary>
        private void CheckMembers()
        {
            foreach (ParsedMember member in decl.Members)
            {
                if (GeneratedMembers.ClashWith(member.Name, member.Signature) is { } generated)
                    Report(D.MemberClash, member.Location, decl.ClassName, member.Description, generated.Description);
            }
        }

        /// <summary>MOE007 duplicate attribute; an attribute the compiler could not bind is an error it reports itself.</summary>
        private Attributes CheckAttributes()
        {
            var byName = new Dictionary<string, ParsedAttribute>(StringComparer.Ordinal);
            foreach (ParsedAttribute a in decl.Attributes)
            {
                if (byName.ContainsKey(a.Name)) { Report(D.DuplicateAttribute, a.Location, a.Name, decl.ClassName); continue; }
                byName[a.Name] = a;
                if (a.CompilerError) hasError = true;
            }
            ParsedAttribute? Any(string name) => byName.TryGetValue(name, out ParsedAttribute? a) ? a : null;
            ParsedAttribute? Get(string name) => Any(name) is { CompilerError: false } a ? a : null;
            return new Attributes
            {
                Moe = Get("MoeModel"), BaseModel = Get("BaseModel"), Experts = Get("ExpertsPerLayer"), Router = Get("Router"), Lora = Get("Lora"),
                LoadBalance = Get("LoadBalance"), GraphLosses = Get("GraphLosses"),
                AnyRouter = Any("Router"), AnyExperts = Any("ExpertsPerLayer"),
                MoeLocation = Any("MoeModel")?.Location ?? decl.ClassLocation,
                BaseModelDeclared = Any("BaseModel") is not null, LoraDeclared = Any("Lora") is not null,
            };
        }

        /// <summary>MOE005 a required attribute is missing, MOE006 a router without experts or experts without a router.</summary>
        private void CheckAttributePairs(Attributes a)
        {
            if (!a.BaseModelDeclared)
                Report(D.MissingAttribute, a.MoeLocation, decl.ClassName, "BaseModel", "the shape of the LLaMA base, e.g. [BaseModel(ConfigFile = \"config.json\")] or [BaseModel(Layers = 32, Hidden = 4096, ...)]");
            if (!a.LoraDeclared)
                Report(D.MissingAttribute, a.MoeLocation, decl.ClassName, "Lora", "the adapters, e.g. [Lora(Rank = 8, Alpha = 16, Targets = LoraTargets.All)]");
            if (a.HasRouter && !a.HasExperts) Report(D.RouterWithoutExperts, a.AnyRouter!.Location, decl.ClassName, "Router", "ExpertsPerLayer");
            if (a.HasExperts && !a.HasRouter) Report(D.RouterWithoutExperts, a.AnyExperts!.Location, decl.ClassName, "ExpertsPerLayer", "Router");
        }
    }
}
