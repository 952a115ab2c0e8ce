using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Text;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Cli;

/// <summary>A generated declaration the command line can build: its <c>--method</c> name, its spec, and its generated
/// <c>FromPretrained</c>.</summary>
public sealed class DeclaredMethod
{
    private readonly MethodInfo fromPretrained;

    internal DeclaredMethod(string name, Type type, ModelSpec spec, MethodInfo fromPretrained)
    {
        Name = name;
        Type = type;
        Spec = spec;
        this.fromPretrained = fromPretrained;
    }

    /// <summary>The <c>--method</c> name: the class name in lower case, a hyphen before a run of digits (Mola2468 -> mola-2468).</summary>
    public string Name { get; }
    /// <summary>The declared class.</summary>
    public Type Type { get; }
    /// <summary>The declaration as data.</summary>
    public ModelSpec Spec { get; }

    /// <summary>Builds the declaration on a checkpoint folder: the generated class when the folder has the declared shape,
    /// otherwise the same declaration re-shaped to the folder's config (<see cref="SpecModel"/>, allocation groups spread
    /// over its layers).</summary>
    public MoeCausalLM Build(string directory, out bool reshaped)
    {
        LlamaConfig config = LlamaConfig.Load(directory);
        ModelSpec shaped;
        try { shaped = Spec.ShapedTo(config); }
        catch (ArgumentException e) { throw new UsageException($"--method {Name} cannot be shaped to {directory} ({config.NumHiddenLayers} layers): {e.Message}"); }
        reshaped = !ReferenceEquals(shaped, Spec);
        if (reshaped) return SpecModel.FromPretrained(directory, Spec);
        try { return (MoeCausalLM)fromPretrained.Invoke(null, new object?[] { directory, null })!; }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// <summary>The method name of a class name.</summary>
    public static string NameOf(string className)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < className.Length; i++)
        {
            char c = className[i];
            if (char.IsDigit(c) && i > 0 && !char.IsDigit(className[i - 1])) sb.Append('-');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>Every generated declaration in the assemblies (types deriving from <see cref="MoeCausalLM"/> with a static
    /// <c>Spec</c> and a static <c>FromPretrained(string, Device?)</c>), sorted by name.</summary>
    public static IReadOnlyList<DeclaredMethod> Discover(IEnumerable<Assembly> assemblies)
    {
        var result = new List<DeclaredMethod>();
        foreach (Assembly assembly in assemblies.Distinct())
        {
            Type[] types;
            try { types = assembly.GetTypes(); }
            catch (ReflectionTypeLoadException e) { types = e.Types.Where(t => t is not null).ToArray()!; }
            foreach (Type t in types)
            {
                if (t.IsAbstract || !typeof(MoeCausalLM).IsAssignableFrom(t)) continue;
                PropertyInfo? spec = t.GetProperty("Spec", BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly);
                MethodInfo? load = t.GetMethod("FromPretrained", BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly, new[] { typeof(string), typeof(Device) });
                if (spec?.GetValue(null) is not ModelSpec s || load is null) continue;
                result.Add(new DeclaredMethod(NameOf(t.Name), t, s, load));
            }
        }
        var duplicate = result.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidOperationException($"two declarations map to --method {duplicate.Key}: {string.Join(", ", duplicate.Select(m => m.Type.FullName))}; rename one");
        return result.OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>Finds <paramref name="name"/> (method name or class name, case-insensitive).</summary>
    public static DeclaredMethod Find(IReadOnlyList<DeclaredMethod> methods, string name)
    {
        if (methods.Count == 0) throw new UsageException("no [MoeModel] declarations were found in the given assemblies");
        return methods.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase) || string.Equals(m.Type.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? throw new UsageException($"unknown --method '{name}'; methods: {string.Join(", ", methods.Select(m => m.Name))}");
    }
}
