using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Shared;

#if MOEDSL_GENERATOR
using MoeDsl.Generator.Model;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Generator.Validation
#else
using MoeDsl.Runtime.Declarations.Model;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Runtime.Declarations.Validation
#endif
{
    /// <summary>The allocation of experts over groups of layers: MOE010-MOE015, MOE021, MOE023, MOE024, MOE060, MOE063.</summary>
    internal sealed partial class Validator
    {
        /// <summary>A complete allocation: one expert count per group, the top-k of every group, optional per-group ranks.</summary>
        private sealed record Allocation(int[] Counts, int[] TopK, int[]? Ranks)
        {
            public EquatableArray<GroupModel> Groups(int loraRank)
                => new EquatableArray<GroupModel>(Counts.Select((e, g) => new GroupModel(e, TopK[g], Ranks?[g] ?? loraRank)).ToArray());

            /// <summary>First layer of group <paramref name="group"/> (the rule shared with the runtime).</summary>
            public int FirstLayer(int group, int layers) => DeclarationShapes.FirstLayer(group, layers, Counts.Length);

            /// <summary>True when the group holds no layer (a preset on a base with fewer layers than its groups).</summary>
            public bool IsEmpty(int group, int layers) => FirstLayer(group + 1, layers) <= FirstLayer(group, layers);
        }

        /// <summary>The groups of <c>[ExpertsPerLayer]</c>; null when they are invalid or the layer count is unknown
        /// (<paramref name="layers"/> null: only what does not depend on it is checked).</summary>
        private Allocation? CheckAllocation(ParsedAttribute a, int? layers, RouterCheck router)
        {
            int[]? counts = null;
            ParsedArgument? countsArg = a.Find("counts");
            if (countsArg is not null) counts = countsArg.Value.Kind == ValueKind.IntArray ? countsArg.Value.Ints.ToArray() : Array.Empty<int>();
            else if (a.Find("preset") is not null)
            {
                AllocationPreset? preset = Enum(a, "preset", AllocationPreset.Triangle);
                if (preset is null) return null;
                counts = DeclarationShapes.PresetCounts(preset.Value);
            }
            if (counts is null) return null;
            if (counts.Length == 0) { Report(D.NoExpertCounts, countsArg?.Location ?? a.Location); return null; }
            bool ok = true;
            for (int i = 0; i < counts.Length; i++)
                if (counts[i] < 1) { Report(D.ExpertCountBelowOne, ElementLoc(countsArg, i) ?? a.Location, counts[i], i); ok = false; }
            int[]? groupTopK = PerGroup(a, "TopK", counts.Length, ref ok);
            int[]? groupRanks = PerGroup(a, "Ranks", counts.Length, ref ok);
            if (layers is not int n) return null;
            // A preset spreads its groups over any layer count (DeclarationShapes.GroupOf); counts written out must fit.
            bool fromPreset = countsArg is null;
            if (!fromPreset && counts.Length > n) { Report(D.TooManyExpertCounts, countsArg?.Location ?? a.Location, counts.Length, n); return null; }
            if (!fromPreset && n % counts.Length != 0)
            {
                int g = counts.Length;
                var divisors = Enumerable.Range(1, n).Where(d => n % d == 0);
                var multiples = Enumerable.Range(Math.Max(1, n / g - 1), 4).Select(k => k * g).Where(m => m > 0);
                Report(D.GroupsDoNotDivideLayers, countsArg?.Location ?? a.Location, g, n, string.Join(", ", divisors), string.Join(", ", multiples));
                return null;
            }
            if (!ok) return null;
            int[] topK = counts.Select((e, g) => router.Kind switch
            {
                RouterKind.Switch => 1,
                RouterKind.TopP or RouterKind.Soft => e,
                _ => groupTopK?[g] ?? router.TopK,
            }).ToArray();
            return new Allocation(counts, topK, groupRanks);
        }

        /// <summary>MOE014 a per-group list of the wrong length, MOE015 a per-group value below 1.</summary>
        private int[]? PerGroup(ParsedAttribute a, string name, int count, ref bool valid)
        {
            ParsedArgument? arg = a.Find(name);
            if (arg is null || arg.Value.Kind != ValueKind.IntArray) return null;
            int[] values = arg.Value.Ints.ToArray();
            if (values.Length != count)
            {
                Report(D.PerGroupLengthMismatch, arg.Location ?? a.Location, name, values.Length, count);
                valid = false;
                return null;
            }
            for (int i = 0; i < values.Length; i++)
                if (values[i] < 1) { Report(D.PerGroupValueBelowOne, ElementLoc(arg, i) ?? a.Location, name, values[i], i); valid = false; }
            return values;
        }

        /// <summary>MOE023 a per-group top-k other than 1 for Switch, MOE063 per-group top-k for TopP or Soft, MOE021 a top-k
        /// above a layer's experts, MOE024 a Graph layer with fewer than 2 experts.</summary>
        private void CheckRouterAgainstAllocation(ParsedAttribute experts, ParsedAttribute? routerAttribute, RouterCheck router, Allocation allocation, int layers)
        {
            if (router.Model is null) return;
            RouterKind kind = router.Kind;
            ParsedArgument? groupTopK = experts.Find("TopK");
            bool perGroupTopK = groupTopK?.Value is { Kind: ValueKind.IntArray };
            if (perGroupTopK)
            {
                if (kind == RouterKind.Switch)
                {
                    for (int g = 0; g < groupTopK!.Value.Ints.Count; g++)
                        if (groupTopK.Value.Ints[g] != 1) { Report(D.SwitchTopK, ElementLoc(groupTopK, g), groupTopK.Value.Ints[g]); break; }
                }
                else if (kind is RouterKind.TopP or RouterKind.Soft) Report(D.IgnoredArgument, groupTopK!.Location ?? experts.Location, "ExpertsPerLayer.TopK", kind.ToString());
            }
            if (kind is RouterKind.TopK or RouterKind.Graph)
            {
                for (int g = 0; g < allocation.Counts.Length; g++)
                {
                    if (allocation.IsEmpty(g, layers)) continue;
                    if (allocation.TopK[g] >= 1 && allocation.TopK[g] > allocation.Counts[g])
                    {
                        LocationInfo? where = perGroupTopK ? ElementLoc(groupTopK, g) : Loc(routerAttribute, "TopK");
                        Report(D.TopKAboveExperts, where, allocation.TopK[g], allocation.Counts[g], FirstLayer(g, layers, allocation));
                        break;
                    }
                }
            }
            if (kind == RouterKind.Graph)
            {
                for (int g = 0; g < allocation.Counts.Length; g++)
                {
                    if (allocation.IsEmpty(g, layers)) continue;
                    if (allocation.Counts[g] < 2)
                    {
                        Report(D.GraphTooFewExperts, CountLocation(experts, g), FirstLayer(g, layers, allocation), allocation.Counts[g]);
                        break;
                    }
                }
            }
        }

        /// <summary>MOE060 (warning): more experts than 8 x rank in a layer, once per (experts, rank) pair.</summary>
        private void CheckExpertsForRank(ParsedAttribute experts, Allocation allocation, int layers, int? loraRank)
        {
            if (allocation.Ranks is null && !(loraRank >= 1)) return;
            var seen = new HashSet<(int, int)>();
            for (int g = 0; g < allocation.Counts.Length; g++)
            {
                if (allocation.IsEmpty(g, layers)) continue;
                int rank = allocation.Ranks?[g] ?? loraRank!.Value;
                long limit = 8L * rank;
                if (allocation.Counts[g] > limit && seen.Add((allocation.Counts[g], rank)))
                    Report(D.ManyExpertsForRank, CountLocation(experts, g), FirstLayer(g, layers, allocation), allocation.Counts[g], rank, limit);
            }
        }

        private static int FirstLayer(int group, int layers, Allocation allocation) => allocation.FirstLayer(group, layers);

        private LocationInfo? CountLocation(ParsedAttribute experts, int group)
            => experts.Find("counts") is { } c ? ElementLoc(c, group) : Loc(experts, "preset");
    }
}
