using System;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Routing;
using MoeDsl.Shared;
using MoeDsl.Runtime.Experts;

namespace MoeDsl.Runtime.Modeling;

/// <summary>Declaration -> modules: the one place that turns a <see cref="ModelSpec"/> into a decoder layer's frozen
/// projections, LoRA adapters, experts and routers. Generated classes, run-time declarations (the CLI's <c>--method</c>
/// re-shaped to a checkpoint) and the frozen base all build their layers here.</summary>
public static class ModelBuilder
{
    /// <summary>Layer <paramref name="layer"/> of <paramref name="spec"/> on a base of <paramref name="config"/>'s shape.
    /// Construction order, and so the order of random draws, is q, k, v, o, then the MLP.</summary>
    public static LlamaDecoderLayer Layer(ModelSpec spec, LlamaConfig config, int layer, RoutingRecorder recorder)
    {
        ExpertGroup group = spec.GroupOf(layer);
        var lora = new LoraSettings(Math.Max(group.Rank, 1), spec.Alpha, spec.Dropout);
        bool moeFeedForward = spec.IsMixture && spec.Placement == ExpertPlacement.FeedForward && (spec.Targets & LoraTargets.FeedForward) != 0;

        Projection Site(LoraTargets target, string name)
        {
            var (inF, outF) = DeclarationShapes.Shape(target, config.HiddenSize, config.IntermediateSize,
                config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim);
            int inFeatures = checked((int)inF), outFeatures = checked((int)outF);
            bool bias = target == LoraTargets.O ? config.OutputBias : (target & (LoraTargets.Q | LoraTargets.K | LoraTargets.V)) != 0 && config.QkvBias;
            if ((spec.Targets & target) == 0 || group.Rank < 1) return new FrozenLinear(inFeatures, outFeatures, name, bias);
            if (spec.IsMixture && spec.Placement == ExpertPlacement.EveryProjection)
                return new MoeLoraLinear(inFeatures, outFeatures, group.Experts, lora, RouterFactory.Create(spec, group, inFeatures, layer), recorder, layer, name, bias);
            return new LoraLinear(inFeatures, outFeatures, lora, name, bias);
        }

        Projection q = Site(LoraTargets.Q, "q_proj"), k = Site(LoraTargets.K, "k_proj"), v = Site(LoraTargets.V, "v_proj"), o = Site(LoraTargets.O, "o_proj");
        FeedForwardBlock mlp = moeFeedForward
            ? new MoeFeedForward(config.HiddenSize, config.IntermediateSize, group.Experts, lora,
                RouterFactory.Create(spec, group, config.HiddenSize, layer), recorder, layer, config.HiddenActivation)
            : new LlamaMlp(Site(LoraTargets.Gate, "gate_proj"), Site(LoraTargets.Up, "up_proj"), Site(LoraTargets.Down, "down_proj"), config.HiddenActivation);
        return new LlamaDecoderLayer(config, layer, q, k, v, o, mlp);
    }
}
