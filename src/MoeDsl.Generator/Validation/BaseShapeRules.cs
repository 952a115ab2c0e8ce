using System;
using MoeDsl.Generator.Model;
using MoeDsl.Generator.Parsing;
using MoeDsl.Shared;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;

namespace MoeDsl.Generator.Validation
{
    /// <summary>The base shape from <c>[BaseModel]</c> and its ConfigFile: MOE040-MOE047, MOE049.</summary>
    internal sealed partial class Validator
    {
        private static readonly (string Arg, string Json)[] ShapeFields =
        {
            ("Layers", "num_hidden_layers"), ("Hidden", "hidden_size"), ("Intermediate", "intermediate_size"),
            ("Heads", "num_attention_heads"), ("KvHeads", "num_key_value_heads"), ("Vocab", "vocab_size"),
        };

        private const int KvHeadsField = 4;

        /// <summary>The base shape; null when it is missing or invalid.</summary>
        private BaseShape? CheckBaseShape(ParsedAttribute? a)
        {
            if (a is null) return null;
            var values = new int[ShapeFields.Length];
            var fromConfig = new bool[ShapeFields.Length];
            for (int i = 0; i < values.Length; i++) values[i] = Int(a, ShapeFields[i].Arg, 0);

            ParsedArgument? configArg = a.Find("ConfigFile");
            string? configFile = configArg?.Value.Kind == ValueKind.String ? configArg.Value.Text : null;
            if (configFile is not null && !ReadConfigFile(a, configArg!, configFile, values, fromConfig)) return null;
            if (values[KvHeadsField] == 0 && !fromConfig[KvHeadsField]) values[KvHeadsField] = values[3];   // KvHeads 0 = same as Heads

            LocationInfo? ShapeLoc(int i) => fromConfig[i] ? configArg?.Location ?? a.Location : Loc(a, ShapeFields[i].Arg);
            bool positive = true;
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] > 0) continue;
                positive = false;
                string note = fromConfig[i] ? $" (read from {configFile}: {ShapeFields[i].Json})"
                    : Given(a, ShapeFields[i].Arg) ? "" : " (it is not set: give it, or ConfigFile naming the checkpoint's config.json)";
                Report(D.SizeNotPositive, fromConfig[i] ? configArg?.Location : Loc(a, ShapeFields[i].Arg), ShapeFields[i].Arg, values[i], note);
            }
            if (!positive) return null;
            if (values[0] > DeclarationShapes.MaxLayers) { Report(D.TooManyLayers, ShapeLoc(0), values[0], DeclarationShapes.MaxLayers); return null; }
            if (values[1] % values[3] != 0) { Report(D.HiddenNotDivisibleByHeads, ShapeLoc(3), values[1], values[3]); return null; }
            if (values[3] % values[4] != 0) { Report(D.HeadsNotDivisibleByKvHeads, ShapeLoc(4), values[3], values[4]); return null; }
            if (values[1] / values[3] % 2 != 0) { Report(D.OddHeadDim, ShapeLoc(1), values[1] / values[3]); return null; }
            return new BaseShape(values[0], values[1], values[2], values[3], values[4], values[5]);
        }

        /// <summary>Fills <paramref name="values"/> from the config.json: MOE044 not an AdditionalFiles item, MOE045 invalid
        /// JSON, MOE046 a field missing or mistyped, MOE047 a given size disagrees. False when the shape cannot be used.</summary>
        private bool ReadConfigFile(ParsedAttribute a, ParsedArgument configArg, string configFile, int[] values, bool[] fromConfig)
        {
            AdditionalFileInfo? file = FindFile(configFile);
            if (file is null || file.Text is null)
            {
                Report(D.ConfigFileNotFound, configArg.Location ?? a.Location, configFile);
                return false;
            }
            var members = ConfigJson.Parse(file.Text, out string? error);
            if (members is null)
            {
                Report(D.ConfigFileInvalidJson, configArg.Location ?? a.Location, configFile, error ?? "");
                return false;
            }
            bool ok = true;
            for (int i = 0; i < values.Length; i++)
            {
                string field = ShapeFields[i].Json;
                if (!members.TryGetValue(field, out ConfigJson.Member m) || m.Kind == "null")
                {
                    if (i == KvHeadsField) continue;   // num_key_value_heads is optional (defaults to the heads)
                    Report(D.ConfigFileBadField, configArg.Location ?? a.Location, configFile, field, "is missing; a LLaMA config.json gives it as an integer");
                    ok = false;
                    continue;
                }
                if (!ConfigJson.TryGetInt(m, out int v, out string? problem))
                {
                    Report(D.ConfigFileBadField, configArg.Location ?? a.Location, configFile, field, problem!);
                    ok = false;
                    continue;
                }
                if (Given(a, ShapeFields[i].Arg) && values[i] != v && !(i == KvHeadsField && values[i] == 0))
                {
                    Report(D.ConfigFileDisagrees, Loc(a, ShapeFields[i].Arg), ShapeFields[i].Arg, values[i], configFile, field, v);
                    ok = false;
                }
                values[i] = v;
                fromConfig[i] = true;
            }
            if (!fromConfig[KvHeadsField] && values[KvHeadsField] == 0) values[KvHeadsField] = values[3];
            return ok;
        }

        private AdditionalFileInfo? FindFile(string configFile)
        {
            string wanted = configFile.Replace('\\', '/');
            while (wanted.StartsWith("./", StringComparison.Ordinal)) wanted = wanted.Substring(2);
            if (wanted.Length == 0) return null;
            AdditionalFileInfo? best = null;
            foreach (AdditionalFileInfo f in files)
            {
                string path = f.Path.Replace('\\', '/');
                if (string.Equals(path, wanted, StringComparison.Ordinal) || path.EndsWith("/" + wanted, StringComparison.Ordinal))
                    if (best is null || f.Path.Length < best.Path.Length) best = f;
            }
            return best;
        }
    }
}
