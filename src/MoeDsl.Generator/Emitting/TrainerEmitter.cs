using System.Collections.Generic;
using MoeDsl.Generator.Model;

namespace MoeDsl.Generator.Emitting
{
    /// <summary>Writes a model class's generated trainer: a nested <c>TrainingOptions</c> record (the runtime's common
    /// <c>FineTuneOptions</c> plus the settings only this declaration has, defaulting to the declared values) and a
    /// <c>FineTune</c> typed for it. The training itself is the runtime's <c>MoeCausalLM.FineTune</c> (one loop,
    /// <c>TrainingRun</c>); the record only adds its settings through <c>Specialise</c>.</summary>
    internal static class TrainerEmitter
    {
        private const string Api = "global::MoeDsl.Runtime.Api";
        private const string TrainerOptions = "global::MoeDsl.Runtime.Training.TrainerOptions";
        private const string LossCoefficients = "global::MoeDsl.Runtime.Losses.LossCoefficients";
        private const string Result = "global::MoeDsl.Runtime.Training.TrainingRunResult";

        /// <summary>One setting of the generated options: its property (also its <c>LossCoefficients</c> or
        /// <c>TrainerOptions</c> member), its default, its summary.</summary>
        private sealed class Setting
        {
            public Setting(string name, double value, string summary, bool isLoss)
            {
                Name = name;
                Value = value;
                Summary = summary;
                IsLoss = isLoss;
            }

            public string Name { get; }
            public double Value { get; }
            public string Summary { get; }
            public bool IsLoss { get; }
        }

        /// <summary>The settings that apply to <paramref name="m"/> and to no declaration without the same feature.</summary>
        private static List<Setting> SettingsOf(GeneratedModel m)
        {
            var result = new List<Setting>();
            if (m.IsMixture)
                result.Add(new Setting("RouterWeightDecay", 0, "AdamW weight decay of the routers (default 0).", isLoss: false));
            if (m.LoadBalance is double lb)
                result.Add(new Setting("LoadBalance", lb, $"Load-balance loss coefficient (declared: {Emitter.D(lb)}).", isLoss: true));
            if (m.Router is RouterModel { Kind: RouterKind.Switch } sw)
                result.Add(new Setting("RouterZLoss", sw.ZLossCoefficient, $"Router z-loss coefficient (declared: {Emitter.D(sw.ZLossCoefficient)}).", isLoss: true));
            if (m.Router is RouterModel { Kind: RouterKind.Graph })
            {
                double poisson = m.GraphLosses?.Poisson ?? DslDefaults.PoissonCoefficient;
                double normal = m.GraphLosses?.Normal ?? DslDefaults.NormalCoefficient;
                result.Add(new Setting("GraphPoisson", poisson, $"GMoE's Poisson distinction loss coefficient, 0 = off (declared: {Emitter.D(poisson)}).", isLoss: true));
                result.Add(new Setting("GraphNormal", normal, $"GMoE's Normal balance loss coefficient, 0 = off (declared: {Emitter.D(normal)}).", isLoss: true));
            }
            return result;
        }

        public static void Emit(SourceWriter w, GeneratedModel m)
        {
            List<Setting> settings = SettingsOf(m);
            w.Line($"/// <summary>Training options of {m.ClassName}: the common ones (<see cref=\"{Api}.FineTuneOptions\"/>)"
                   + (settings.Count == 0 ? "; this declaration adds none.</summary>" : " and those only this declaration has.</summary>"));
            w.Open($"public sealed record {GeneratedMembers.TrainingOptions} : {Api}.FineTuneOptions");
            foreach (Setting s in settings)
            {
                w.Line("/// <summary>" + s.Summary + "</summary>");
                w.Line($"public double {s.Name} {{ get; init; }}" + (s.Value == 0 && !s.IsLoss ? "" : $" = {Emitter.D(s.Value)};"));
            }
            if (settings.Count > 0)
            {
                w.Line();
                w.Line("/// <inheritdoc/>");
                w.Line($"protected override {TrainerOptions} Specialise({TrainerOptions} options)");
                w.Line("{");
                w.Indent();
                var assignments = new List<string>();
                var losses = new List<string>();
                foreach (Setting s in settings) (s.IsLoss ? losses : assignments).Add($"{s.Name} = {s.Name}");
                if (losses.Count > 0) assignments.Add($"Losses = new {LossCoefficients} {{ {string.Join(", ", losses)} }}");
                w.Line($"if (options is null) throw new global::System.ArgumentNullException(nameof(options));");
                w.Line($"return options with {{ {string.Join(", ", assignments)} }};");
                w.Unindent();
                w.Line("}");
            }
            w.Close();
            w.Line();
            w.Line($"/// <summary>Fine-tunes this model's adapters on <paramref name=\"data\"/> with {m.ClassName}'s options (defaults when null):");
            w.Line("/// the runtime's one training loop, with checkpoints, resume and the final adapter when an output folder is set.</summary>");
            w.Line($"public {Result} {GeneratedMembers.FineTune}({Api}.TrainingData data, {GeneratedMembers.TrainingOptions}? options = null)");
            w.Line($"    => base.{GeneratedMembers.FineTune}(data, options ?? new {GeneratedMembers.TrainingOptions}());");
        }
    }
}
