using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Adapters;

/// <summary>Folds plain LoRA into the base: <c>W' = W + (alpha / r) B A</c> for every adapted projection, and writes the
/// result as a Hugging Face checkpoint folder (config.json + model.safetensors) that loads without MoeDsl.</summary>
public static class LoraMerge
{
    /// <summary>Writes the merged checkpoint into <paramref name="directory"/> (created if needed; files written atomically).
    /// Mixtures cannot be merged: their experts' weights depend on the router's choice per token.</summary>
    public static void SaveMerged(MoeCausalLM model, string directory)
    {
        if (model.Spec.IsMixture)
            throw new InvalidOperationException($"{model.Spec.Name} is a mixture of experts; only plain LoRA can be merged into the base (each token's experts differ)");
        var merged = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            foreach (var (name, module) in model.named_modules())
            {
                if (module is not LoraLinear lora) continue;
                Tensor w = lora.Weight;
                Tensor delta = matmul(lora.B.to(ScalarType.Float32), lora.A.to(ScalarType.Float32)) * lora.Settings.Scaling;
                merged[name + ".weight"] = (w.to(ScalarType.Float32) + delta).to(w.dtype);
            }
        }
        var tensors = model.BaseParameters()
            .Select(p => new KeyValuePair<string, Tensor>(p.Name, merged.TryGetValue(p.Name, out Tensor? m) ? m : p.Parameter))
            .ToList();
        Directory.CreateDirectory(directory);
        SafeTensorsWriter.Save(Path.Combine(directory, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        string config = Path.Combine(directory, "config.json");
        string temp = SafeTensorsWriter.TemporaryPathFor(config);
        File.WriteAllText(temp, model.Config.ToJson());
        File.Move(temp, config, overwrite: true);
    }
}
