using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Routing;
using MoeDsl.Shared;

namespace MoeDsl.Runtime.Adapters;

/// <summary>adapter_config.json: PEFT's fields (<c>peft_type</c>, <c>r</c>, <c>lora_alpha</c>, <c>target_modules</c>...)
/// plus the whole declaration (groups, the router with its kind's settings, the losses, the base shape), so that
/// <see cref="Read"/> gives back the <see cref="ModelSpec"/> the adapter was trained with.</summary>
public static class AdapterConfig
{
    /// <summary>The JSON text of <paramref name="spec"/>'s adapter config.</summary>
    public static string Write(ModelSpec spec, string baseModelNameOrPath)
    {
        var targets = new JsonArray();
        foreach (var (flag, name) in DeclarationShapes.Projections) if ((spec.Targets & flag) != 0) targets.Add(name);
        var o = new JsonObject
        {
            ["peft_type"] = spec.IsMixture ? "MOE_LORA" : "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["r"] = spec.Groups.Max(g => g.Rank),
            ["lora_alpha"] = spec.Alpha,
            ["lora_dropout"] = spec.Dropout,
            ["target_modules"] = targets,
            ["bias"] = "none",
            ["moedsl_method"] = spec.Name,
            ["placement"] = spec.Placement.ToString(),
            ["router"] = spec.RouterKind?.ToString(),
            ["expert_groups"] = new JsonArray(spec.Groups.Select(g => (JsonNode)new JsonObject { ["experts"] = g.Experts, ["top_k"] = g.TopK, ["r"] = g.Rank }).ToArray()),
            ["experts_per_layer"] = Ints(spec.ExpertsPerLayer),
            ["top_k_per_layer"] = Ints(spec.TopKPerLayer),
            ["rank_per_layer"] = Ints(spec.RankPerLayer),
            ["top_k"] = spec.IsMixture ? spec.Groups.Max(g => g.TopK) : 0,
            ["load_balance_coefficient"] = spec.LoadBalance,
            ["num_hidden_layers"] = spec.Layers,
            ["hidden_size"] = spec.Hidden,
            ["intermediate_size"] = spec.Intermediate,
            ["num_attention_heads"] = spec.Heads,
            ["num_key_value_heads"] = spec.KvHeads,
            ["head_dim"] = spec.HeadDim,
            ["vocab_size"] = spec.Vocab,
        };
        if (spec.Router is LinearRouterSettings linear) o["jitter_noise"] = linear.JitterNoise;
        switch (spec.Router)
        {
            case TopPRouterSettings topP:
                o["top_p"] = topP.P;
                break;
            case SwitchRouterSettings s:
                o["capacity_factor"] = s.CapacityFactor;
                o["router_z_loss_coef"] = s.ZLossCoefficient;
                break;
            case GraphRouterSettings g:
                o["graph_hidden"] = g.Hidden;
                o["graph_layers"] = g.Layers;
                o["graph_density"] = g.Density;
                o["graph_edges"] = "moe_gate.adjacency buffers in adapter_model.safetensors: the graph the adapter was trained with";
                o["graph_rebuilt_at_load"] = g.RebuiltAtLoad;
                break;
        }
        if (spec.GraphLosses is { } losses)
        {
            o["graph_poisson_coefficient"] = losses.Poisson;
            o["graph_normal_coefficient"] = losses.Normal;
            o["graph_poisson_lambda"] = losses.Lambda;
            o["graph_loss_form"] = losses.Form.ToString();
            o["graph_normal_scope"] = losses.NormalScope.ToString();
            o["graph_count_padding"] = losses.CountPadding;
        }
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonArray Ints(int[] values) => new(values.Select(x => (JsonNode)x).ToArray());

    /// <summary>Parses adapter_config.json into a JSON object; malformed files throw <see cref="ModelFormatException"/>.</summary>
    public static JsonObject Parse(string path)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelFormatException(path, null, $"is not valid JSON ({e.Message})"); }
        return node as JsonObject ?? throw new ModelFormatException(path, null, "must be a JSON object");
    }

    /// <summary>The declaration an adapter was saved with (its <c>expert_groups</c>, router settings and losses).</summary>
    public static ModelSpec Read(string path)
    {
        JsonObject o = Parse(path);
        RouterKind? kind = o["router"] is JsonValue r ? EnumField<RouterKind>(path, o, "router") : null;
        ExpertPlacement placement = EnumField<ExpertPlacement>(path, o, "placement");
        var targets = LoraTargets.None;
        // PEFT's fused naming (phi3 plain LoRA) lists qkv_proj / gate_up_proj there; the split projections are kept here.
        string targetsField = o.ContainsKey("moedsl_target_modules") ? "moedsl_target_modules" : "target_modules";
        foreach (JsonNode? t in Field<JsonArray>(path, o, targetsField))
        {
            string name = t?.GetValue<string>() ?? "";
            int i = Array.FindIndex(DeclarationShapes.Projections, p => p.Name == name);
            if (i < 0) throw new ModelFormatException(path, targetsField, $"names '{name}', which is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
            targets |= DeclarationShapes.Projections[i].Target;
        }
        var groups = Field<JsonArray>(path, o, "expert_groups").Select(g => g is JsonObject go
                ? new ExpertGroup(Int(path, go, "experts"), Int(path, go, "top_k"), Int(path, go, "r"))
                : throw new ModelFormatException(path, "expert_groups", "must be a list of {experts, top_k, r} objects")).ToArray();
        double jitter = Double(path, o, "jitter_noise", DslDefaults.JitterNoise);
        RouterSettings? router = kind switch
        {
            null => null,
            RouterKind.TopK => new TopKRouterSettings { JitterNoise = jitter },
            RouterKind.TopP => new TopPRouterSettings { JitterNoise = jitter, P = Double(path, o, "top_p", DslDefaults.TopP) },
            RouterKind.Switch => new SwitchRouterSettings
            {
                JitterNoise = jitter, CapacityFactor = Double(path, o, "capacity_factor", DslDefaults.CapacityFactor),
                ZLossCoefficient = Double(path, o, "router_z_loss_coef", DslDefaults.ZLossCoefficient),
            },
            RouterKind.Soft => new SoftRouterSettings { JitterNoise = jitter },
            _ => new GraphRouterSettings
            {
                Hidden = Int(path, o, "graph_hidden"), Layers = Int(path, o, "graph_layers"), Density = Double(path, o, "graph_density", DslDefaults.GraphDensity),
                // Adapters written before this field existed were evaluated on the saved graph.
                RebuiltAtLoad = o["graph_rebuilt_at_load"] is null ? false
                    : o["graph_rebuilt_at_load"] is JsonValue rebuilt && rebuilt.TryGetValue(out bool rebuiltAtLoad) ? rebuiltAtLoad
                    : throw new ModelFormatException(path, "graph_rebuilt_at_load", "must be true or false"),
            },
        };
        GraphLossSettings? losses = o.ContainsKey("graph_loss_form")
            ? new GraphLossSettings(Double(path, o, "graph_poisson_coefficient", DslDefaults.PoissonCoefficient), Double(path, o, "graph_normal_coefficient", DslDefaults.NormalCoefficient),
                Double(path, o, "graph_poisson_lambda", DslDefaults.PoissonLambda), EnumField<GraphLossForm>(path, o, "graph_loss_form"),
                // Adapters written before these two fields existed were trained per layer, without padding.
                o.ContainsKey("graph_normal_scope") ? EnumField<GraphNormalScope>(path, o, "graph_normal_scope") : GraphNormalScope.PerLayer,
                o["graph_count_padding"] is null ? false
                    : o["graph_count_padding"] is JsonValue v && v.TryGetValue(out bool countPadding) ? countPadding
                    : throw new ModelFormatException(path, "graph_count_padding", "must be true or false"))
            : null;
        return new ModelSpec
        {
            Name = o["moedsl_method"]?.GetValue<string>() ?? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? "adapter",
            Placement = placement, Router = router, Targets = targets,
            Alpha = Double(path, o, "lora_alpha", DslDefaults.Alpha), Dropout = Double(path, o, "lora_dropout", DslDefaults.Dropout),
            Groups = groups, LoadBalance = o["load_balance_coefficient"] is null ? null : Double(path, o, "load_balance_coefficient", 0),
            GraphLosses = losses,
            Layers = Int(path, o, "num_hidden_layers"), Hidden = Int(path, o, "hidden_size"), Intermediate = Int(path, o, "intermediate_size"),
            Heads = Int(path, o, "num_attention_heads"), KvHeads = Int(path, o, "num_key_value_heads"), Vocab = Int(path, o, "vocab_size"),
            HeadDim = o["head_dim"] is null ? 0 : Int(path, o, "head_dim"),   // adapters saved before head_dim was written: hidden / heads
        };
    }

    private static T Field<T>(string path, JsonObject o, string name) where T : JsonNode
        => o[name] as T ?? throw new ModelFormatException(path, name, o.ContainsKey(name) ? $"must be a JSON {(typeof(T) == typeof(JsonArray) ? "array" : "value")}" : "is missing; was the adapter saved by MoeDsl?");

    private static int Int(string path, JsonObject o, string name)
        => Field<JsonValue>(path, o, name).TryGetValue(out int v) ? v : throw new ModelFormatException(path, name, "must be an integer");

    private static double Double(string path, JsonObject o, string name, double fallback)
        => o[name] is null ? fallback : o[name] is JsonValue v && v.TryGetValue(out double d) ? d : throw new ModelFormatException(path, name, "must be a number");

    private static T EnumField<T>(string path, JsonObject o, string name) where T : struct, Enum
        => Field<JsonValue>(path, o, name).TryGetValue(out string? s) && Enum.TryParse(s, ignoreCase: false, out T v) && Enum.IsDefined(v)
            ? v : throw new ModelFormatException(path, name, $"must be one of {string.Join(", ", Enum.GetNames<T>())}");
}
