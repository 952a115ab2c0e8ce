using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Shared;

#if MOEDSL_GENERATOR
using MoeDsl.Generator.Model;
using MoeDsl.Generator.Parsing;
using D = MoeDsl.Generator.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Generator.Validation
#else
using MoeDsl.Runtime.Declarations.Model;
using MoeDsl.Runtime.Declarations.Parsing;
using D = MoeDsl.Runtime.Declarations.Diagnostics.DiagnosticDescriptors;
namespace MoeDsl.Runtime.Declarations.Validation
#endif
{
    /// <summary>The base shape from <c>[BaseModel]</c> and its ConfigFile: MOE040-MOE047, MOE049, MOE054, MOE072, MOE073.</summary>
    internal sealed partial class Validator
    {
        private static readonly (string Arg, string Json)[] ShapeFields =
        {
            ("Layers", "num_hidden_layers"), ("Hidden", "hidden_size"), ("Intermediate", "intermediate_size"),
            ("Heads", "num_attention_heads"), ("KvHeads", "num_key_value_heads"), ("Vocab", "vocab_size"), ("HeadDim", "head_dim"),
        };

        private const int HeadsField = 3, KvHeadsField = 4, HeadDimField = 6;

        /// <summary>Fields a config.json may leave out (or set to null): the kv heads default to the heads, the head
        /// dimension to hidden / heads.</summary>
        private static bool Optional(int field) => field == KvHeadsField || field == HeadDimField;

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
            if (values[KvHeadsField] == 0 && !fromConfig[KvHeadsField]) values[KvHeadsField] = values[HeadsField];   // KvHeads 0 = same as Heads
            bool headDimGiven = fromConfig[HeadDimField] || values[HeadDimField] != 0;

            LocationInfo? ShapeLoc(int i) => fromConfig[i] ? configArg?.Location ?? a.Location : Loc(a, ShapeFields[i].Arg);
            bool positive = true;
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] > 0 || (i == HeadDimField && !headDimGiven)) continue;
                positive = false;
                string note = fromConfig[i] ? $" (read from {configFile}: {ShapeFields[i].Json})"
                    : Given(a, ShapeFields[i].Arg) ? "" : " (it is not set: give it, or ConfigFile naming the checkpoint's config.json)";
                Report(D.SizeNotPositive, fromConfig[i] ? configArg?.Location : Loc(a, ShapeFields[i].Arg), ShapeFields[i].Arg, values[i], note);
            }
            if (!positive) return null;
            if (values[0] > DeclarationShapes.MaxLayers) { Report(D.TooManyLayers, ShapeLoc(0), values[0], DeclarationShapes.MaxLayers); return null; }
            if (!headDimGiven && values[1] % values[HeadsField] != 0) { Report(D.HiddenNotDivisibleByHeads, ShapeLoc(HeadsField), values[1], values[HeadsField]); return null; }
            if (values[HeadsField] % values[KvHeadsField] != 0) { Report(D.HeadsNotDivisibleByKvHeads, ShapeLoc(KvHeadsField), values[HeadsField], values[KvHeadsField]); return null; }
            int headDim = headDimGiven ? values[HeadDimField] : values[1] / values[HeadsField];
            if (headDim % 2 != 0) { Report(D.OddHeadDim, headDimGiven ? ShapeLoc(HeadDimField) : ShapeLoc(1), headDim); return null; }
            return new BaseShape(values[0], values[1], values[2], values[HeadsField], values[KvHeadsField], headDim, values[5]);
        }

        /// <summary>Fills <paramref name="values"/> from the config.json: MOE044 not an AdditionalFiles item, MOE054 two
        /// items match, MOE045 invalid JSON, MOE046 a field missing or mistyped, MOE047 a given size disagrees, MOE072 a
        /// model_type the runtime does not build, MOE073 a rope type it does not implement. False when the shape cannot be used.</summary>
        private bool ReadConfigFile(ParsedAttribute a, ParsedArgument configArg, string configFile, int[] values, bool[] fromConfig)
        {
            LocationInfo? where = configArg.Location ?? a.Location;
            AdditionalFileInfo? file = FindFile(configFile, where);
            if (file is null) return false;
            if (file.Text is null)
            {
                Report(D.ConfigFileNotFound, where, configFile);
                return false;
            }
            var members = ConfigJson.Parse(file.Text, out string? error);
            if (members is null)
            {
                Report(D.ConfigFileInvalidJson, where, configFile, error ?? "");
                return false;
            }
            bool ok = CheckFamily(members, configFile, where);
            for (int i = 0; i < values.Length; i++)
            {
                string field = ShapeFields[i].Json;
                if (!members.TryGetValue(field, out ConfigJson.Member m) || m.Kind == "null")
                {
                    if (Optional(i)) continue;
                    Report(D.ConfigFileBadField, where, configFile, field, "is missing; a config.json gives it as an integer");
                    ok = false;
                    continue;
                }
                if (!ConfigJson.TryGetInt(m, out int v, out string? problem))
                {
                    Report(D.ConfigFileBadField, where, configFile, field, problem!);
                    ok = false;
                    continue;
                }
                if (Given(a, ShapeFields[i].Arg) && values[i] != v && !(Optional(i) && values[i] == 0))
                {
                    Report(D.ConfigFileDisagrees, Loc(a, ShapeFields[i].Arg), ShapeFields[i].Arg, values[i], configFile, field, v);
                    ok = false;
                }
                values[i] = v;
                fromConfig[i] = true;
            }
            if (!fromConfig[KvHeadsField] && values[KvHeadsField] == 0) values[KvHeadsField] = values[HeadsField];
            return ok;
        }

        /// <summary>MOE072 a model_type the runtime does not build, MOE073 a rope type it does not implement (rope_scaling's
        /// rope_type or, in older files, type; transformers 5's rope_parameters), MOE046 one of them, or
        /// tie_word_embeddings, of the wrong JSON type.</summary>
        private bool CheckFamily(Dictionary<string, ConfigJson.Member> members, string configFile, LocationInfo? where)
        {
            bool ok = true;
            string modelType = ModelFamilies.DefaultModelType;
            if (members.TryGetValue("model_type", out ConfigJson.Member type) && type.Kind != "null")
            {
                if (type.Kind != "string") { Report(D.ConfigFileBadField, where, configFile, "model_type", "must be a string, got a " + type.Kind); return false; }
                modelType = type.Raw;
                if (!ModelFamilies.IsImplemented(modelType))
                {
                    Report(D.FamilyNotImplemented, where, configFile, modelType, string.Join(", ", ModelFamilies.ModelTypes));
                    ok = false;
                }
            }
            foreach (string key in new[] { "rope_scaling", "rope_parameters" })
            {
                if (!members.TryGetValue(key, out ConfigJson.Member rope) || rope.Kind == "null") continue;
                if (rope.Members is null) { Report(D.ConfigFileBadField, where, configFile, key, "must be an object or null, got a " + rope.Kind); ok = false; continue; }
                string? ropeType = null;
                foreach (string name in new[] { "rope_type", "type" })
                {
                    if (!rope.Members.TryGetValue(name, out ConfigJson.Member t) || t.Kind == "null") continue;
                    if (t.Kind != "string") { Report(D.ConfigFileBadField, where, configFile, key + "." + name, "must be a string, got a " + t.Kind); ok = false; break; }
                    ropeType = t.Raw;
                    break;
                }
                if (ropeType is not null && !ModelFamilies.IsRopeImplemented(ropeType))
                {
                    Report(D.FeatureNotImplemented, where, configFile, key + ".rope_type", ropeType, modelType, string.Join(", ", ModelFamilies.RopeTypes));
                    ok = false;
                }
            }
            if (members.TryGetValue("tie_word_embeddings", out ConfigJson.Member tie) && tie.Kind != "null" && tie.Kind != "boolean")
            {
                Report(D.ConfigFileBadField, where, configFile, "tie_word_embeddings", "must be true or false, got a " + tie.Kind);
                ok = false;
            }
            return ok;
        }

        /// <summary>The AdditionalFiles item <paramref name="configFile"/> names: the file at that path relative to the
        /// declaring project's folder (or the absolute path); failing that, the one item whose path ends with it. MOE044
        /// when none matches, MOE054 naming two when several do; null then.</summary>
        private AdditionalFileInfo? FindFile(string configFile, LocationInfo? where)
        {
            string wanted = NormalizePath(configFile);
            if (wanted.Length > 0)
            {
                string? exact = wanted[0] == '/' || (wanted.Length > 1 && wanted[1] == ':') ? wanted
                    : files.ProjectDirectory is { Length: > 0 } project ? NormalizePath(project.TrimEnd('/', '\\') + "/" + wanted) : null;
                foreach (AdditionalFileInfo f in files.Files)
                    if (exact is not null && string.Equals(NormalizePath(f.Path), exact, StringComparison.Ordinal)) return f;
                if (wanted[0] != '/' && !wanted.StartsWith("../", StringComparison.Ordinal))
                {
                    List<AdditionalFileInfo> matches = files.Files
                        .Where(f => NormalizePath(f.Path) is string p && (p == wanted || p.EndsWith("/" + wanted, StringComparison.Ordinal)))
                        .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
                    if (matches.Count == 1) return matches[0];
                    if (matches.Count > 1)
                    {
                        Report(D.ConfigFileAmbiguous, where, configFile, matches.Count, matches[0].Path, matches[1].Path);
                        return null;
                    }
                }
            }
            if (files.FromSpec) Report(D.SpecConfigFileNotFound, where, configFile, files.ProjectDirectory is { } dir && wanted.Length > 0 && wanted[0] != '/' ? NormalizePath(dir + "/" + wanted) : configFile);
            else Report(D.ConfigFileNotFound, where, configFile);
            return null;
        }

        /// <summary>Forward slashes, no "." segments, ".." folded into the folder before it.</summary>
        private static string NormalizePath(string path)
        {
            string p = path.Replace('\\', '/');
            bool rooted = p.Length > 0 && p[0] == '/';
            var parts = new List<string>();
            foreach (string part in p.Split('/'))
            {
                if (part.Length == 0 || part == ".") continue;
                if (part == ".." && parts.Count > 0 && parts[parts.Count - 1] != "..") parts.RemoveAt(parts.Count - 1);
                else parts.Add(part);
            }
            return (rooted ? "/" : "") + string.Join("/", parts);
        }
    }
}
