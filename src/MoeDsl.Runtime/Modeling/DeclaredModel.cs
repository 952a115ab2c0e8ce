using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using MoeDsl.Runtime.IO;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>One <c>[MoeModel]</c> class as the generator lists it in its assembly's registry
/// (<c>MoeDsl.Generated.DeclaredModels.All</c>): the declaration and the class's typed factories, without reflection.</summary>
public sealed class DeclaredModel
{
    private readonly Func<string, Device?, ScalarType?, MoeCausalLM> fromPretrained;
    private readonly Func<LlamaConfig, MoeCausalLM> create;

    /// <summary>Lists a generated class: its type, <c>Spec</c>, <c>FromPretrained</c> and <c>Create</c>.</summary>
    public DeclaredModel(Type type, ModelSpec spec, Func<string, Device?, ScalarType?, MoeCausalLM> fromPretrained, Func<LlamaConfig, MoeCausalLM> create)
    {
        Type = type ?? throw new ArgumentNullException(nameof(type));
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        this.fromPretrained = fromPretrained ?? throw new ArgumentNullException(nameof(fromPretrained));
        this.create = create ?? throw new ArgumentNullException(nameof(create));
        Name = NameOf(type.Name);
    }

    private DeclaredModel(string name, ModelSpec spec)
    {
        Type = typeof(SpecModel);
        Spec = spec;
        fromPretrained = (directory, device, baseDType) => SpecModel.FromPretrained(directory, spec, device, baseDType);
        create = config => SpecModel.Create(config, spec);
        Name = name;
    }

    /// <summary>A declaration given as data (a JSON spec read by <c>DeclarationSpec.Load</c>), listed under
    /// <paramref name="name"/>; it builds <see cref="SpecModel"/>s.</summary>
    public static DeclaredModel FromSpec(string name, ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(spec);
        return new DeclaredModel(name, spec);
    }

    /// <summary>The name tools select it by: the class name in lower case, a hyphen before a run of digits
    /// (Mola2468 -> mola-2468).</summary>
    public string Name { get; }
    /// <summary>The declared class.</summary>
    public Type Type { get; }
    /// <summary>The declaration as data.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The generated <c>FromPretrained</c>: the folder must have the declared shape; the frozen base in
    /// <paramref name="baseDType"/> (fp32 or bf16; null: bf16 on CUDA, fp32 on the CPU; docs/precision.md).</summary>
    public MoeCausalLM FromPretrained(string directory, Device? device = null, ScalarType? baseDType = null) => fromPretrained(directory, device, baseDType);

    /// <summary>The generated <c>Create</c>: a random base of the declared shape.</summary>
    public MoeCausalLM Create(LlamaConfig config) => create(config);

    /// <summary>Builds the declaration on a checkpoint folder: the generated class when the folder has the declared shape,
    /// otherwise the same declaration re-shaped to the folder's config (its groups spread over the config's layers;
    /// <see cref="SpecModel"/>). Throws <see cref="ArgumentException"/> when the groups cannot cover the layers.</summary>
    public MoeCausalLM Build(string directory, Device? device, out bool reshaped) => Build(directory, device, null, out reshaped);

    /// <summary><see cref="Build(string, Device?, out bool)"/> with the frozen base in <paramref name="baseDType"/> (fp32 or
    /// bf16; null: bf16 on CUDA, fp32 on the CPU; docs/precision.md).</summary>
    public MoeCausalLM Build(string directory, Device? device, ScalarType? baseDType, out bool reshaped)
    {
        // The config is read and checked against the weights once, here; the model is built on it and loaded.
        LlamaConfig config = LlamaConfig.LoadMatchingWeights(directory);
        ModelSpec shaped = Spec.ShapedTo(config);
        reshaped = !ReferenceEquals(shaped, Spec);
        FrozenBase.ForCheckpoint(config);
        MoeCausalLM model = reshaped ? SpecModel.Create(config, shaped) : Create(config);
        return MoeCausalLM.LoadPretrained(model, directory, device, baseDType);
    }

    /// <summary>The tool name of a class name: PascalCase split into lower-case words joined by hyphens. A word starts at
    /// an upper-case letter that follows a lower-case letter or digit and is followed by a lower-case letter, and a run of
    /// digits is a word; an acronym stays whole, also when it ends in a lower-case letter (TinyHourglass -> tiny-hourglass,
    /// MoLA2468 -> mola-2468, Mola2468 -> mola-2468, MixLoRA -> mix-lora, GMoE -> gmoe, Lora -> lora).</summary>
    public static string NameOf(string className)
    {
        ArgumentNullException.ThrowIfNull(className);
        var sb = new StringBuilder();
        for (int i = 0; i < className.Length; i++)
        {
            char c = className[i];
            char previous = i > 0 ? className[i - 1] : '\0';
            bool wordStart = char.IsUpper(c) && (char.IsLower(previous) || char.IsDigit(previous))
                             && i + 1 < className.Length && char.IsLower(className[i + 1]);
            bool digitsStart = char.IsDigit(c) && i > 0 && !char.IsDigit(previous);
            if ((wordStart || digitsStart) && sb.Length > 0 && sb[^1] != '-') sb.Append('-');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>Finds <paramref name="name"/> (tool name or class name, case-insensitive); null when none has it.</summary>
    public static DeclaredModel? Find(IReadOnlyList<DeclaredModel> models, string name)
        => models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase) || string.Equals(m.Type.Name, name, StringComparison.OrdinalIgnoreCase));
}
