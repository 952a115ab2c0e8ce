using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using MoeDsl.Generator.Emitting;
using MoeDsl.Generator.Model;

namespace MoeDsl.Generator.Parsing
{
    /// <summary>Turns a class carrying [MoeModel] and its MoeDsl attributes into a <see cref="ParsedDeclaration"/>.
    /// Attribute types are matched by metadata name; values come from the compiler's bound constants.</summary>
    internal static class Parser
    {
        public const string Namespace = "MoeDsl";
        public const string MoeModel = "MoeModelAttribute";
        public static readonly string[] AttributeNames =
        {
            MoeModel, "BaseModelAttribute", "ExpertsPerLayerAttribute", "RouterAttribute", "LoraAttribute", "LoadBalanceAttribute", "GraphLossesAttribute",
        };

        public static ParsedDeclaration? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not TypeDeclarationSyntax syntax)
                return null;
            string className = type.Name;
            LocationInfo? classLocation = LocationInfo.From(syntax.Identifier.GetLocation());
            string hintName = HintName(type);
            try
            {
                // Only the partial declaration that carries the first [MoeModel] drives generation.
                AttributeData? first = null;
                foreach (AttributeData a in type.GetAttributes())
                    if (Is(a.AttributeClass, MoeModel)) { first = a; break; }
                if (first?.ApplicationSyntaxReference is { } reference
                    && (reference.SyntaxTree != syntax.SyntaxTree || !syntax.Span.Contains(reference.Span)))
                    return null;

                var attributes = new List<ParsedAttribute>();
                foreach (AttributeData a in type.GetAttributes())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (a.AttributeClass is null || a.AttributeClass.ContainingNamespace?.ToDisplayString() != Namespace) continue;
                    string name = a.AttributeClass.Name;
                    if (Array.IndexOf(AttributeNames, name) < 0) continue;
                    attributes.Add(ReadAttribute(name.Substring(0, name.Length - "Attribute".Length), a, context.SemanticModel, cancellationToken));
                }

                var containing = new List<ContainingTypeInfo>();
                for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
                {
                    bool isPartial = false;
                    LocationInfo? outerLocation = null;
                    foreach (SyntaxReference r in outer.DeclaringSyntaxReferences)
                    {
                        if (r.GetSyntax(cancellationToken) is TypeDeclarationSyntax t)
                        {
                            outerLocation ??= LocationInfo.From(t.Identifier.GetLocation());
                            if (t.Modifiers.Any(SyntaxKind.PartialKeyword)) isPartial = true;
                        }
                    }
                    string typeParameters = outer.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", outer.TypeParameters.Select(p => p.Name)) + ">";
                    containing.Insert(0, new ContainingTypeInfo(Keyword(outer), outer.Name, isPartial, outerLocation, typeParameters, outer.IsFileLocal));
                }

                string? baseType = type.BaseType is { SpecialType: not SpecialType.System_Object } b && syntax.BaseList is not null
                    ? b.ToDisplayString() : null;
                bool isPartialClass = syntax.Modifiers.Any(SyntaxKind.PartialKeyword);
                return new ParsedDeclaration(
                    type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : null,
                    className, hintName, classLocation,
                    type.IsRecord ? "is a record" : type.TypeKind == TypeKind.Class ? "class" : "is a " + type.TypeKind.ToString().ToLowerInvariant(),
                    isPartialClass, type.TypeParameters.Length > 0, type.IsStatic, type.IsAbstract, baseType,
                    new EquatableArray<ContainingTypeInfo>(containing.ToArray()),
                    new EquatableArray<ParsedAttribute>(attributes.ToArray()),
                    null)
                {
                    IsFile = type.IsFileLocal,
                    Members = new EquatableArray<ParsedMember>(MembersNamedLikeGenerated(type, cancellationToken).ToArray()),
                };
            }
            catch (OperationCanceledException)
            {
                throw;
            }
            catch (Exception e)
            {
                return new ParsedDeclaration(null, className, hintName, classLocation, "class", true, false, false, false, null,
                    EquatableArray<ContainingTypeInfo>.Empty, EquatableArray<ParsedAttribute>.Empty, e.GetType().Name + ": " + e.Message);
            }
        }

        /// <summary>The members declared in source (in any partial declaration) whose metadata name the generated code
        /// also uses, in declaration order; implicit members (the default constructor) and explicit interface
        /// implementations (named "IFoo.Layers") are not declared under those names.</summary>
        private static List<ParsedMember> MembersNamedLikeGenerated(INamedTypeSymbol type, CancellationToken cancellationToken)
        {
            var result = new List<ParsedMember>();
            foreach (ISymbol member in type.GetMembers())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (member.IsImplicitlyDeclared || !GeneratedMembers.IsGeneratedName(member.Name)) continue;
                LocationInfo? location = null;
                foreach (Location l in member.Locations)
                    if (l.IsInSource) { location = LocationInfo.From(l); break; }
                if (location is null) continue;
                string? signature = null;
                string description;
                if (member is IMethodSymbol method)
                {
                    var parameters = new List<string>();
                    var shown = new List<string>();
                    foreach (IParameterSymbol p in method.Parameters)
                    {
                        string refKind = p.RefKind switch { RefKind.Ref => "ref ", RefKind.Out => "out ", RefKind.In => "in ", RefKind.RefReadOnlyParameter => "ref readonly ", _ => "" };
                        parameters.Add(refKind + p.Type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat));
                        shown.Add(refKind + p.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat));
                    }
                    signature = (method.Arity > 0 ? "`" + method.Arity.ToString(CultureInfo.InvariantCulture) : "") + "(" + string.Join(", ", parameters) + ")";
                    description = method.MethodKind == MethodKind.Constructor
                        ? $"the constructor {type.Name}({string.Join(", ", shown)})"
                        : $"the method {member.Name}({string.Join(", ", shown)})";
                }
                else
                {
                    description = member switch
                    {
                        IFieldSymbol { IsConst: true } => "the constant",
                        IFieldSymbol => "the field",
                        IPropertySymbol => "the property",
                        IEventSymbol => "the event",
                        INamedTypeSymbol => "the nested type",
                        _ => "the member",
                    } + " " + member.Name;
                }
                result.Add(new ParsedMember(member.Name, signature, description, location));
            }
            return result;
        }

        private static bool Is(INamedTypeSymbol? type, string name)
            => type is not null && type.Name == name && type.ContainingNamespace?.ToDisplayString() == Namespace;

        private static string HintName(INamedTypeSymbol type)
        {
            string name = type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat.WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted)
                .WithGenericsOptions(SymbolDisplayGenericsOptions.None)).Replace("@", "");
            var chars = name.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
                if (!char.IsLetterOrDigit(chars[i]) && chars[i] != '.' && chars[i] != '_') chars[i] = '_';
            return new string(chars) + (type.Arity > 0 ? "`" + type.Arity : "") + ".g.cs";
        }

        private static string Keyword(INamedTypeSymbol t)
            => t.IsRecord ? (t.TypeKind == TypeKind.Struct ? "record struct" : "record")
             : t.TypeKind switch { TypeKind.Struct => "struct", TypeKind.Interface => "interface", _ => "class" };

        private static ParsedAttribute ReadAttribute(string name, AttributeData data, SemanticModel targetModel, CancellationToken cancellationToken)
        {
            var syntax = data.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            // The compiler converts some bad arguments (Rank = 1.5 binds as 1 with CS0266); its errors on the attribute
            // decide whether the values can be trusted.
            bool compilerError = false;
            if (syntax is not null)
            {
                SemanticModel model = syntax.SyntaxTree == targetModel.SyntaxTree ? targetModel : targetModel.Compilation.GetSemanticModel(syntax.SyntaxTree);
                foreach (Diagnostic d in model.GetDiagnostics(syntax.Span, cancellationToken))
                    if (d.Severity == DiagnosticSeverity.Error) { compilerError = true; break; }
            }
            LocationInfo? location = LocationInfo.From(syntax);
            IMethodSymbol? ctor = data.AttributeConstructor;
            bool error = ctor is null || compilerError;
            var arguments = new List<ParsedArgument>();

            var positional = new List<AttributeArgumentSyntax>();
            var named = new Dictionary<string, AttributeArgumentSyntax>(StringComparer.Ordinal);
            if (syntax?.ArgumentList is { } list)
            {
                foreach (AttributeArgumentSyntax arg in list.Arguments)
                {
                    if (arg.NameEquals is { } ne) named[ne.Name.Identifier.ValueText] = arg;
                    else if (arg.NameColon is { } nc) { error = true; named[nc.Name.Identifier.ValueText] = arg; }
                    else positional.Add(arg);
                }
            }

            if (ctor is not null)
            {
                ImmutableArray<IParameterSymbol> ps = ctor.Parameters;
                if (data.ConstructorArguments.Length != ps.Length) error = true;
                for (int i = 0; i < ps.Length && i < data.ConstructorArguments.Length; i++)
                {
                    TypedConstant c = data.ConstructorArguments[i];
                    LocationInfo? argLocation = null;
                    var elements = new List<LocationInfo>();
                    if (ps[i].IsParams)
                    {
                        bool expanded = !(positional.Count == ps.Length && i < positional.Count
                            && positional[i].Expression is ArrayCreationExpressionSyntax or ImplicitArrayCreationExpressionSyntax or CollectionExpressionSyntax
                                or LiteralExpressionSyntax { RawKind: (int)SyntaxKind.NullLiteralExpression });
                        if (expanded)
                        {
                            for (int j = i; j < positional.Count; j++)
                                if (LocationInfo.From(positional[j]) is { } l) elements.Add(l);
                            if (elements.Count > 0) argLocation = elements[0].Through(elements[elements.Count - 1]);
                        }
                        else
                        {
                            argLocation = LocationInfo.From(positional[i]);
                            elements.AddRange(ElementLocations(positional[i].Expression));
                        }
                    }
                    else if (i < positional.Count)
                    {
                        argLocation = LocationInfo.From(positional[i]);
                    }
                    ParsedValue value = Convert(c);
                    if (value.Kind == ValueKind.Error || !SymbolEqualityComparer.Default.Equals(c.Type, ps[i].Type)) error = true;
                    if (value.Kind == ValueKind.IntArray && elements.Count != value.Ints.Count) elements.Clear();
                    arguments.Add(new ParsedArgument(ps[i].Name, value, argLocation, new EquatableArray<LocationInfo>(elements.ToArray())));
                }
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (KeyValuePair<string, TypedConstant> pair in data.NamedArguments)
            {
                seen.Add(pair.Key);
                named.TryGetValue(pair.Key, out AttributeArgumentSyntax? argSyntax);
                ParsedValue value = Convert(pair.Value);
                ITypeSymbol? propertyType = null;
                foreach (ISymbol member in data.AttributeClass?.GetMembers(pair.Key) ?? ImmutableArray<ISymbol>.Empty)
                    if (member is IPropertySymbol property) propertyType = property.Type;
                if (value.Kind == ValueKind.Error || propertyType is null
                    || (!pair.Value.IsNull && !SymbolEqualityComparer.Default.Equals(pair.Value.Type, propertyType)))
                    error = true;
                List<LocationInfo> elements = ElementLocations(argSyntax?.Expression);
                if (value.Kind != ValueKind.IntArray || elements.Count != value.Ints.Count) elements.Clear();
                arguments.Add(new ParsedArgument(pair.Key, value, LocationInfo.From(argSyntax), new EquatableArray<LocationInfo>(elements.ToArray())));
            }
            // A named argument the compiler could not bind (wrong type, unknown or read-only property) is absent from
            // NamedArguments; the compiler reports it.
            foreach (string key in named.Keys)
                if (!seen.Contains(key)) error = true;

            return new ParsedAttribute(name, location, error, new EquatableArray<ParsedArgument>(arguments.ToArray()));
        }

        private static List<LocationInfo> ElementLocations(ExpressionSyntax? expression)
        {
            var result = new List<LocationInfo>();
            IEnumerable<SyntaxNode> items = expression switch
            {
                ArrayCreationExpressionSyntax { Initializer: { } init } => init.Expressions,
                ImplicitArrayCreationExpressionSyntax ic => ic.Initializer.Expressions,
                CollectionExpressionSyntax ce => ce.Elements,
                _ => Array.Empty<SyntaxNode>(),
            };
            foreach (SyntaxNode item in items)
                if (LocationInfo.From(item) is { } location) result.Add(location);
            return result;
        }

        private static ParsedValue Convert(TypedConstant c)
        {
            switch (c.Kind)
            {
                case TypedConstantKind.Error:
                    return ParsedValue.ErrorValue;
                case TypedConstantKind.Array:
                    if (c.IsNull) return ParsedValue.NullValue;
                    var values = new int[c.Values.Length];
                    for (int i = 0; i < values.Length; i++)
                    {
                        if (c.Values[i].Kind == TypedConstantKind.Error || c.Values[i].Value is not int v) return ParsedValue.ErrorValue;
                        values[i] = v;
                    }
                    return ParsedValue.FromInts(values);
                case TypedConstantKind.Enum:
                    return c.Value switch
                    {
                        int i => ParsedValue.FromEnum(i),
                        long l => ParsedValue.FromEnum(l),
                        _ => ParsedValue.ErrorValue,
                    };
                case TypedConstantKind.Primitive:
                    return c.Value switch
                    {
                        null => ParsedValue.NullValue,
                        int i => ParsedValue.FromInt(i),
                        double d => ParsedValue.FromDouble(d),
                        bool b => ParsedValue.FromBool(b),
                        string s => ParsedValue.FromString(s),
                        _ => ParsedValue.ErrorValue,
                    };
                default:
                    return c.IsNull ? ParsedValue.NullValue : ParsedValue.ErrorValue;
            }
        }
    }
}
