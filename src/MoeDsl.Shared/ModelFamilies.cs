using System;

namespace MoeDsl.Shared
{
    /// <summary>The decoder families a declaration may be built on, as config.json names them (<c>model_type</c>), and
    /// the rope variants (<c>rope_scaling</c> / <c>rope_parameters</c> <c>rope_type</c>) the runtime implements. Shared as
    /// source by the generator (a <c>ConfigFile</c> naming another family or rope type is a compile-time error, MOE072 /
    /// MOE073) and the runtime (the same refusal at load time), so the two lists cannot drift.
    /// What a family changes in the LoRA shapes is only the head dimension (<c>head_dim</c>, explicit in qwen3, gemma and
    /// gemma2); q/k/v biases (qwen2) are frozen base weights, and phi3's fused <c>qkv_proj</c> / <c>gate_up_proj</c> are
    /// split into q/k/v and gate/up when loaded, so LoRA targets and experts always name the logical projections.</summary>
    internal static class ModelFamilies
    {
        /// <summary>config.json <c>model_type</c> values the runtime builds (a missing model_type reads as llama).</summary>
        public static readonly string[] ModelTypes = { "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3" };

        /// <summary>Rope variants the runtime implements: plain rope ("default", also when rope_scaling is null), position
        /// interpolation ("linear") and Llama 3.1's frequency-dependent scaling ("llama3").</summary>
        public static readonly string[] RopeTypes = { "default", "linear", "llama3" };

        /// <summary>The model_type a config.json without one is read as.</summary>
        public const string DefaultModelType = "llama";

        /// <summary>True when <paramref name="modelType"/> is one of <see cref="ModelTypes"/>.</summary>
        public static bool IsImplemented(string modelType) => Array.IndexOf(ModelTypes, modelType) >= 0;

        /// <summary>True when <paramref name="ropeType"/> is one of <see cref="RopeTypes"/>.</summary>
        public static bool IsRopeImplemented(string ropeType) => Array.IndexOf(RopeTypes, ropeType) >= 0;
    }
}
