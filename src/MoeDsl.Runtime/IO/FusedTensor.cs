using System;
using System.Collections.Generic;
using System.Linq;

namespace MoeDsl.Runtime.IO;

/// <summary>A checkpoint tensor that holds several of the model's projections stacked along its rows (Phi-3's
/// <c>self_attn.qkv_proj.weight</c> = q | k | v and <c>mlp.gate_up_proj.weight</c> = gate | up). The runtime splits it
/// at load, so every method (plain LoRA, MoLA per projection, MixLoRA's FFN) sees the seven projections of a LLaMA layer.</summary>
/// <param name="Name">The checkpoint's tensor name.</param>
/// <param name="Parts">The model's parameter names in row order, with their row counts.</param>
public sealed record FusedTensor(string Name, IReadOnlyList<(string Part, long Rows)> Parts)
{
    /// <summary>Rows of the fused tensor.</summary>
    public long Rows => Parts.Sum(p => p.Rows);

    /// <summary>The fused tensors of every layer of <paramref name="config"/> (none unless its family fuses projections).</summary>
    public static IReadOnlyList<FusedTensor> Of(LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var result = new List<FusedTensor>();
        if (!config.Family.FusedProjections) return result;
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string attention = $"model.layers.{i}.self_attn.", mlp = $"model.layers.{i}.mlp.";
            result.Add(new FusedTensor(attention + "qkv_proj.weight", new[]
            {
                (attention + "q_proj.weight", config.QueryDim), (attention + "k_proj.weight", config.KeyValueDim), (attention + "v_proj.weight", config.KeyValueDim),
            }));
            result.Add(new FusedTensor(mlp + "gate_up_proj.weight", new[]
            {
                (mlp + "gate_proj.weight", (long)config.IntermediateSize), (mlp + "up_proj.weight", (long)config.IntermediateSize),
            }));
        }
        return result;
    }
}
