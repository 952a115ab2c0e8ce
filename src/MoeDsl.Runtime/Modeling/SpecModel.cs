using MoeDsl.Runtime.IO;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>A model of a declaration given at run time (the CLI's <c>--method</c> re-shaped to the checkpoint of
/// <c>--model</c>, an adapter's adapter_config.json). Built by the same <see cref="ModelBuilder"/> as the generated
/// classes, so the same declaration gives the same modules, names and initial values either way.</summary>
public sealed class SpecModel : MoeCausalLM
{
    private SpecModel(LlamaConfig config, ModelSpec spec) : base(config, spec) { }

    /// <summary>Builds the model with a random base of this config's shape; the declaration's groups are spread over the
    /// config's layers (<see cref="ModelSpec.ShapedTo"/>).</summary>
    public static SpecModel Create(LlamaConfig config, ModelSpec spec) => new(config, spec.ShapedTo(config));

    /// <summary>Builds the model on a checkpoint folder (its config checked against the weights' headers first).</summary>
    public static SpecModel FromPretrained(string directory, ModelSpec spec, Device? device = null, ScalarType? baseDType = null)
        => LoadPretrained(Create(FrozenBase.ForCheckpoint(LlamaConfig.LoadMatchingWeights(directory)), spec), directory, device, baseDType);
}
