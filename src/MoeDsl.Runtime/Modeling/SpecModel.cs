using System;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Moe;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>A model wired at run time from a <see cref="ModelSpec"/> — what the CLI uses for <c>--method</c> declarations
/// whose shape comes from <c>--model</c>. It builds exactly the modules generated code builds (same types, same
/// parameter names); generated classes are the compile-time-specialised form of the same wiring.</summary>
public sealed class SpecModel : MoeCausalLM
{
    private SpecModel(LlamaConfig config, ModelSpec spec) : base(spec.Name, config, spec, (c, i, rec) => BuildLayer(spec, c, i, rec)) { }

    /// <summary>Builds the model with a random base of this config's shape.</summary>
    public static SpecModel Create(LlamaConfig config, ModelSpec spec)
    {
        ModelSpec shaped = spec.ShapedTo(config);
        return new SpecModel(config, shaped);
    }

    /// <summary>Builds the model on a checkpoint folder.</summary>
    public static SpecModel FromPretrained(string directory, ModelSpec spec, Device? device = null)
    {
        LlamaConfig config = LlamaConfig.Load(directory);
        return LoadPretrained(Create(config, spec), directory, device);
    }

    /// <summary>Layer <paramref name="layer"/> of a declaration.</summary>
    public static LlamaDecoderLayer BuildLayer(ModelSpec spec, LlamaConfig c, int layer, RoutingRecorder recorder)
    {
        int h = c.HiddenSize, kv = c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize;
        LoraTargets t = spec.Targets;
        int rank = spec.RankPerLayer.Length > 0 ? spec.RankPerLayer[layer] : 0;
        var lora = new LoraSettings(Math.Max(rank, 1), spec.Alpha, spec.Dropout);
        int experts = spec.IsMixture ? spec.ExpertsPerLayer[layer] : 0;
        int topK = spec.IsMixture ? spec.TopKPerLayer[layer] : 0;

        Projection Plain(LoraTargets target, int inF, int outF, string name)
            => (t & target) != 0 && rank > 0 ? new LoraLinear(inF, outF, lora, name) : new FrozenLinear(inF, outF, name);

        Projection Proj(LoraTargets target, int inF, int outF, string name)
        {
            if (experts > 0 && spec.Placement == ExpertPlacement.EveryProjection && (t & target) != 0)
                return new MoeLoraLinear(inF, outF, experts, lora, CreateRouter(spec, inF, experts, topK, layer), recorder, layer, name);
            return Plain(target, inF, outF, name);
        }

        // Construction order (and so the order of random draws) is the generated code's: q, k, v, o, then the MLP.
        Projection q = Proj(LoraTargets.Q, h, h, "q_proj"), k = Proj(LoraTargets.K, h, kv, "k_proj"), v = Proj(LoraTargets.V, h, kv, "v_proj"), o = Proj(LoraTargets.O, h, h, "o_proj");
        FeedForwardBlock mlp = experts > 0 && spec.Placement == ExpertPlacement.FeedForward && (t & LoraTargets.FeedForward) != 0
            ? new MoeFeedForward(h, inter, experts, lora, CreateRouter(spec, h, experts, topK, layer), recorder, layer)
            : new LlamaMlp(Proj(LoraTargets.Gate, h, inter, "gate_proj"), Proj(LoraTargets.Up, h, inter, "up_proj"), Proj(LoraTargets.Down, inter, h, "down_proj"));
        return new LlamaDecoderLayer(c, layer, q, k, v, o, mlp);
    }

    /// <summary>The router a declaration asks for, built exactly as the generator's emitted code builds it.
    /// Initialisation follows each method's reference code: MixLoRA's top-k and MoE-PEFT's dynamic (TopP) routers draw
    /// from N(0, 0.02); MoLA (EveryProjection) and LoRAMoE (Soft) keep nn.Linear's kaiming-uniform; Switch draws from
    /// N(0, 1.0) (MoE-PEFT's router_init_range for switch); the Graph router (FeedForward only) is seeded by its layer,
    /// so a declaration always builds the same expert graph.</summary>
    public static Router CreateRouter(ModelSpec spec, int inFeatures, int experts, int topK, int layer)
    {
        double std = spec.Placement == ExpertPlacement.FeedForward ? 0.02 : 0.0;
        return spec.Router switch
        {
            RouterKind.TopK => new TopKRouter(inFeatures, experts, topK, spec.JitterNoise, std),
            RouterKind.TopP => new TopPRouter(inFeatures, experts, spec.TopP, spec.JitterNoise, std),
            RouterKind.Switch => new SwitchRouter(inFeatures, experts, spec.CapacityFactor, spec.JitterNoise, 1.0),
            RouterKind.Soft => new SoftRouter(inFeatures, experts, spec.JitterNoise, 0.0),
            RouterKind.Graph => new GraphRouter(inFeatures, experts, topK, spec.GraphHidden, spec.GraphLayers, spec.GraphDensity, spec.PoissonLambda, seed: layer),
            _ => throw new ArgumentException($"{spec.Name}: a mixture needs a router kind", nameof(spec)),
        };
    }
}
