using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Lora;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Adapters;

/// <summary>Saves and loads adapters as <c>adapter_model.safetensors</c> + <c>adapter_config.json</c>.
/// Key layout: mixtures in the FeedForward placement use MoE-PEFT's MixLoRA layout
/// (<c>mixlora.layers.L.mlp.moe_gate.weight</c>, <c>mixlora.layers.L.mlp.gate_proj.experts.E.lora_A.weight</c>,
/// <c>mixlora.layers.L.self_attn.q_proj.lora_A.weight</c>); everything else uses PEFT's
/// (<c>base_model.model.model.layers.L.self_attn.q_proj.lora_A.weight</c>, experts as <c>...q_proj.experts.E.lora_A.weight</c>).
/// Keys are the model's parameter names under a fixed prefix, so the mapping is exact both ways.</summary>
public static class AdapterStore
{
    /// <summary>Tensor file name.</summary>
    public const string TensorFile = "adapter_model.safetensors";
    /// <summary>Config file name.</summary>
    public const string ConfigFile = "adapter_config.json";

    /// <summary>The key prefix for a declaration.</summary>
    public static string KeyPrefix(ModelSpec spec) => spec.IsMixture && spec.Placement == ExpertPlacement.FeedForward ? "mixlora." : "base_model.model.";

    /// <summary>Adapter key of a model parameter or buffer name.</summary>
    public static string KeyOf(ModelSpec spec, string parameterName)
    {
        string prefix = KeyPrefix(spec);
        return prefix == "mixlora." && parameterName.StartsWith("model.", StringComparison.Ordinal)
            ? string.Concat(prefix, parameterName.AsSpan("model.".Length))
            : prefix + parameterName;
    }

    /// <summary>The adapter's tensors (trainable parameters and persistent adapter buffers) by model name.</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> AdapterTensors(MoeCausalLM model)
    {
        foreach (var (name, p) in model.AdapterParameters())
            foreach (var entry in StackedLoraExperts.PerExpert(name, p)) yield return entry;
        foreach (var (name, b) in model.named_buffers())
            if (!MoeCausalLM.IsBaseParameterName(name)) yield return (name, b);
    }

    /// <summary>Writes the adapter into <paramref name="directory"/> (created if needed); files are written atomically.</summary>
    /// Plain LoRA on a base with fused projections (phi3) is saved in PEFT's fused naming (<see cref="FusedLoraLayout"/>).
    public static void Save(MoeCausalLM model, string directory, string baseModelNameOrPath)
    {
        Directory.CreateDirectory(directory);
        using var scope = NewDisposeScope();   // the fused pairs
        var named = FusedLoraLayout.Applies(model) ? FusedLoraLayout.Fuse(model, AdapterTensors(model)) : AdapterTensors(model);
        var tensors = named.Select(t => new KeyValuePair<string, Tensor>(KeyOf(model.Spec, t.Name), t.Tensor)).ToList();
        foreach (var (key, t) in tensors)
        {
            using var finite = t.isfinite().all();
            if (!finite.item<bool>()) throw new InvalidOperationException($"adapter tensor '{key}' holds a non-finite value; refusing to save it");
        }
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["moedsl.method"] = model.Spec.Name };
        SafeTensorsWriter.Save(Path.Combine(directory, TensorFile), tensors, metadata);
        WriteAtomically(Path.Combine(directory, ConfigFile), ConfigJson(model, baseModelNameOrPath));
    }

    /// <summary>Loads an adapter saved for the same declaration and base shape. Fails naming the first mismatch.
    /// A Graph router's expert graph is then rebuilt from the loaded weights (GMoE's behaviour at load) unless the
    /// declaration says <c>GraphRebuiltAtLoad = false</c>, which keeps the saved graph the adapter was trained with.</summary>
    public static void Load(MoeCausalLM model, string directory) => LoadInto(model, directory, resumingTraining: false);

    /// <summary>Loads the adapter; <paramref name="resumingTraining"/> (a training checkpoint) always keeps the saved
    /// Graph-router graph, so that a resumed run continues on the graph it trained with.</summary>
    internal static void LoadInto(MoeCausalLM model, string directory, bool resumingTraining)
    {
        string configPath = Path.Combine(directory, ConfigFile);
        string tensorPath = Path.Combine(directory, TensorFile);
        if (!File.Exists(configPath)) throw new ModelFormatException(directory, ConfigFile, "is missing; an adapter folder holds adapter_config.json and adapter_model.safetensors");
        CheckConfig(model, configPath);
        using SafeTensorsFile file = SafeTensorsFile.Open(tensorPath);
        var expected = AdapterTensors(model).ToDictionary(t => KeyOf(model.Spec, t.Name), t => t.Tensor, StringComparer.Ordinal);
        // Fused naming (phi3 plain LoRA): the split pairs are filled from their group's fused pair below.
        IReadOnlyList<FusedLoraLayout.Group> groups = FusedLoraLayout.Applies(model) ? FusedLoraLayout.Groups(model) : Array.Empty<FusedLoraLayout.Group>();
        var splitTargets = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var g in groups)
            foreach (var (partStem, _) in g.Parts)
                if (partStem is not null)
                    foreach (string name in new[] { partStem + ".lora_A.weight", partStem + ".lora_B.weight" })
                    {
                        splitTargets[name] = expected[KeyOf(model.Spec, name)];
                        expected.Remove(KeyOf(model.Spec, name));
                    }
        var fusedKeys = groups.SelectMany(g => new[] { KeyOf(model.Spec, g.Stem + ".lora_A.weight"), KeyOf(model.Spec, g.Stem + ".lora_B.weight") }).ToHashSet(StringComparer.Ordinal);
        foreach (SafeTensorEntry e in file.Entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            if (!expected.ContainsKey(e.Name) && !fusedKeys.Contains(e.Name))
                throw new ModelFormatException(tensorPath, e.Name, $"is not a tensor of {model.Spec.Name}; was the adapter saved for another declaration?");
        using var _ = no_grad();
        foreach (var g in groups)
        {
            string keyA = KeyOf(model.Spec, g.Stem + ".lora_A.weight"), keyB = KeyOf(model.Spec, g.Stem + ".lora_B.weight");
            foreach (string key in new[] { keyA, keyB })
                if (!file.Contains(key)) throw new ModelFormatException(tensorPath, key, $"is missing; {model.Spec.Name} needs it (PEFT's fused naming for {model.Config.Family.ModelType})");
            using Tensor a = file.Read(keyA), b = file.Read(keyB);
            FusedLoraLayout.Split(g, a, b, name => splitTargets[name], tensorPath, keyA, keyB);
        }
        foreach (var (key, target) in expected.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!file.Contains(key)) throw new ModelFormatException(tensorPath, key, $"is missing; {model.Spec.Name} needs it");
            SafeTensorEntry entry = file.Entry(key);
            if (!entry.Shape.SequenceEqual(target.shape))
                throw new ModelFormatException(tensorPath, key, $"has shape [{string.Join(", ", entry.Shape)}] but {model.Spec.Name} expects [{string.Join(", ", target.shape)}] (wrong rank or expert count?)");
            using Tensor t = file.Read(key);
            target.copy_(t);
        }
        if (!resumingTraining && model.Spec.Router is GraphRouterSettings { RebuiltAtLoad: true })
            foreach (GraphRouter router in model.modules().OfType<GraphRouter>()) router.RebuildGraph();
    }

    /// <summary>adapter_config.json of a declaration (<see cref="AdapterConfig.Write"/>).</summary>
    public static string ConfigJson(ModelSpec spec, string baseModelNameOrPath) => AdapterConfig.Write(spec, baseModelNameOrPath);

    /// <summary>adapter_config.json of a model: its declaration's, in PEFT's fused naming where <see cref="FusedLoraLayout"/> applies.</summary>
    public static string ConfigJson(MoeCausalLM model, string baseModelNameOrPath)
    {
        string text = AdapterConfig.Write(model.Spec, baseModelNameOrPath);
        if (!FusedLoraLayout.Applies(model)) return text;
        JsonObject o = JsonNode.Parse(text)!.AsObject();
        FusedLoraLayout.PatchConfig(model, o);
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    private static void CheckConfig(MoeCausalLM model, string configPath)
    {
        ModelSpec spec = model.Spec;
        JsonObject o = AdapterConfig.Parse(configPath);
        JsonObject expected = JsonNode.Parse(ConfigJson(model, ""))!.AsObject();
        foreach (string field in new[] { "placement", "router", "experts_per_layer", "top_k_per_layer", "rank_per_layer", "target_modules", "lora_alpha", "num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size" })
        {
            string want = expected[field]?.ToJsonString() ?? "null";
            string got = o[field]?.ToJsonString() ?? "null";
            if (want != got)
                throw new ModelFormatException(configPath, field, $"is {got} but {spec.Name} has {want}; load the adapter into the declaration it was trained with");
        }
    }

    private static void WriteAtomically(string path, string text)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
