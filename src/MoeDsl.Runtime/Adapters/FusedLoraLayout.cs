using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Adapters;

/// <summary>Plain LoRA on a base whose checkpoint fuses projections (Phi-3: <c>qkv_proj</c> = q | k | v,
/// <c>gate_up_proj</c> = gate | up; <see cref="FusedTensor"/>) is saved in PEFT's naming for that family: one pair per
/// fused module (<c>base_model.model.model.layers.N.self_attn.qkv_proj.lora_A.weight</c>). The model holds one pair per
/// split projection (rank r each); n targeted parts become one fused pair of rank n r with their A stacked and their B
/// block-diagonal, so <c>B_f A_f</c> is exactly the split deltas one above the other (an untargeted part's rows are zero),
/// and <c>rank_pattern</c> n r / <c>alpha_pattern</c> n alpha keep PEFT's scaling at alpha / r. Loading reads that form
/// back (the off-block entries must be zero) or PEFT's own rank-r fused pair (one A shared by the parts: each part gets
/// that A and its rows of B, the same function).</summary>
internal static class FusedLoraLayout
{
    /// <summary>One fused module that has LoRA: its stem (<c>model.layers.N.self_attn.qkv_proj</c>) and its parts in row
    /// order, each with its rows and the stem of its LoRA pair (null when the part is not targeted).</summary>
    internal sealed record Group(string Stem, IReadOnlyList<(string? PartStem, long Rows)> Parts)
    {
        /// <summary>Parts with a LoRA pair.</summary>
        public int Targeted => Parts.Count(p => p.PartStem is not null);
        /// <summary>The fused module's name as <c>target_modules</c> lists it.</summary>
        public string Module => Stem[(Stem.LastIndexOf('.') + 1)..];
    }

    /// <summary>Whether <paramref name="model"/>'s adapter is saved in the fused naming: plain LoRA on a fused-projection family.</summary>
    public static bool Applies(MoeCausalLM model) => !model.Spec.IsMixture && model.Config.Family.FusedProjections;

    /// <summary>The fused modules of <paramref name="model"/> that have at least one targeted part.</summary>
    public static IReadOnlyList<Group> Groups(MoeCausalLM model)
    {
        var names = model.AdapterParameters().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var groups = new List<Group>();
        foreach (FusedTensor fused in FusedTensor.Of(model.Config))
        {
            var parts = fused.Parts.Select(p => Stem(p.Part)).Zip(fused.Parts, (stem, p) => (names.Contains(stem + ".lora_A.weight") ? stem : null, p.Rows)).ToList();
            if (parts.Any(p => p.Item1 is not null)) groups.Add(new Group(Stem(fused.Name), parts));
        }
        return groups;
    }

    private static string Stem(string weightName) => weightName[..^".weight".Length];

    /// <summary>The adapter tensors by model name with each group's split pairs replaced by its fused pair (new tensors,
    /// in the caller's dispose scope).</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> Fuse(MoeCausalLM model, IEnumerable<(string Name, Tensor Tensor)> split)
    {
        IReadOnlyList<Group> groups = Groups(model);
        var byName = split.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        var fused = new List<(string, Tensor)>();
        using (no_grad())
            foreach (Group g in groups)
            {
                var targeted = g.Parts.Where(p => p.PartStem is not null).Select(p => p.PartStem!).ToArray();
                Tensor[] a = targeted.Select(s => byName[s + ".lora_A.weight"]).ToArray();
                long r = a[0].shape[0];
                Tensor b = zeros(g.Parts.Sum(p => p.Rows), targeted.Length * r, dtype: a[0].dtype, device: a[0].device);
                long row = 0;
                int j = 0;
                foreach (var (partStem, rows) in g.Parts)
                {
                    if (partStem is not null) b.narrow(0, row, rows).narrow(1, j++ * r, r).copy_(byName[partStem + ".lora_B.weight"]);
                    row += rows;
                }
                foreach (string s in targeted) { replaced.Add(s + ".lora_A.weight"); replaced.Add(s + ".lora_B.weight"); }
                fused.Add((g.Stem + ".lora_A.weight", cat(a, 0)));
                fused.Add((g.Stem + ".lora_B.weight", b));
            }
        return split.Where(t => !replaced.Contains(t.Name)).Concat(fused);
    }

    /// <summary>Copies a fused pair read from <paramref name="path"/> into the group's split pairs. <paramref name="a"/>
    /// [R, d], <paramref name="b"/> [rows, R]; R = n r (this layout: off-block entries of B must be zero) or R = r (PEFT's
    /// shared A: an untargeted part's rows of B must be zero). Anything else is refused naming the key.</summary>
    public static void Split(Group g, Tensor a, Tensor b, Func<string, Tensor> target, string path, string keyA, string keyB)
    {
        Tensor firstA = target(g.Parts.First(p => p.PartStem is not null).PartStem! + ".lora_A.weight");
        long r = firstA.shape[0], d = firstA.shape[1], rows = g.Parts.Sum(p => p.Rows), rank = a.shape.Length == 2 ? a.shape[0] : -1;
        int n = g.Targeted;
        if (a.shape.Length != 2 || a.shape[1] != d || (rank != r && rank != n * r))
            throw new ModelFormatException(path, keyA, $"has shape [{string.Join(", ", a.shape)}] but the model expects [{r}, {d}] (PEFT's shared A) or [{n * r}, {d}] ({n} parts stacked)");
        if (b.shape.Length != 2 || b.shape[0] != rows || b.shape[1] != rank)
            throw new ModelFormatException(path, keyB, $"has shape [{string.Join(", ", b.shape)}] but the model expects [{rows}, {rank}]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Tensor rest = b.clone();                                   // what no part takes must be zero
        long row = 0;
        int j = 0;
        foreach (var (partStem, partRows) in g.Parts)
        {
            if (partStem is not null)
            {
                long column = rank == r ? 0 : j++ * r;
                target(partStem + ".lora_A.weight").copy_(a.narrow(0, column, r));
                target(partStem + ".lora_B.weight").copy_(b.narrow(0, row, partRows).narrow(1, column, r));
                rest.narrow(0, row, partRows).narrow(1, column, r).zero_();
            }
            row += partRows;
        }
        if (rest.ne(0).any().item<bool>())
            throw new ModelFormatException(path, keyB, rank == r
                ? $"has non-zero rows for a part of {g.Module} that this declaration does not target; target every part of {g.Module} or load another adapter"
                : $"is not block-diagonal over the parts of {g.Module}; it cannot be split into one rank-{r} pair per part");
    }

    /// <summary>Rewrites the PEFT fields of adapter_config.json for the fused naming: <c>target_modules</c> names the
    /// fused modules, <c>rank_pattern</c>/<c>alpha_pattern</c> give a group of n parts rank n r and alpha n alpha, and
    /// <c>moedsl_target_modules</c> keeps the split projections the declaration targets.</summary>
    public static void PatchConfig(MoeCausalLM model, JsonObject config)
    {
        IReadOnlyList<Group> groups = Groups(model);
        var logical = config["target_modules"]!.AsArray().Select(t => t!.GetValue<string>()).ToArray();
        var partModules = FusedTensor.Of(model.Config).SelectMany(f => f.Parts).Select(p => Stem(p.Part)[(Stem(p.Part).LastIndexOf('.') + 1)..]).ToHashSet(StringComparer.Ordinal);
        var targets = new JsonArray();
        foreach (string m in groups.Select(g => g.Module).Distinct().Concat(logical.Where(l => !partModules.Contains(l)))) targets.Add(m);
        var rankPattern = new JsonObject();
        var alphaPattern = new JsonObject();
        int rank = config["r"]!.GetValue<int>();
        double alpha = config["lora_alpha"]!.GetValue<double>();
        foreach (Group g in groups.GroupBy(g => g.Module).Select(x => x.First()))
            if (g.Targeted > 1)
            {
                rankPattern[g.Module] = g.Targeted * rank;
                alphaPattern[g.Module] = g.Targeted * alpha;
            }
        config["moedsl_target_modules"] = new JsonArray(logical.Select(l => (JsonNode)l).ToArray());
        config["target_modules"] = targets;
        config["rank_pattern"] = rankPattern;
        config["alpha_pattern"] = alphaPattern;
    }
}
