using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using MoeDsl.Runtime.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>The frozen base's parameters as slots that can be given a new tensor (another dtype: bf16 on the CPU or CUDA,
/// or a tensor read from a checkpoint), and the rule that a base built for a checkpoint is not randomly initialised.
/// The one place both happen; <see cref="Native.DeviceSelection.CastBase"/> and <see cref="MoeCausalLM.LoadBase(string, ScalarType)"/>
/// use it.</summary>
public static class FrozenBase
{
    /// <summary>The dtypes a frozen base may have: fp32 (the default on the CPU) and bf16 (the default on CUDA, and on
    /// request on the CPU). LoRA, routers and losses stay fp32 in either case (docs/precision.md).</summary>
    public static readonly IReadOnlyList<ScalarType> SupportedDTypes = new[] { ScalarType.Float32, ScalarType.BFloat16 };

    /// <summary>Parses a base dtype as the command line and configs spell it: <c>fp32</c>/<c>float32</c> or
    /// <c>bf16</c>/<c>bfloat16</c>.</summary>
    public static ScalarType ParseDType(string value, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Trim().ToLowerInvariant() switch
        {
            "fp32" or "float32" or "f32" => ScalarType.Float32,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            _ => throw new ArgumentException($"{what} '{value}' is not a frozen-base dtype; use fp32 or bf16"),
        };
    }

    /// <summary>Throws unless <paramref name="dtype"/> is one of <see cref="SupportedDTypes"/>.</summary>
    public static ScalarType Check(ScalarType dtype)
        => SupportedDTypes.Contains(dtype) ? dtype
            : throw new ArgumentException($"the frozen base can be fp32 or bf16, not {dtype}", nameof(dtype));

    /// <summary>One base parameter: the module that registers it, its name there, its full state-dict name, the tensor.</summary>
    internal readonly record struct Slot(nn.Module Module, string LocalName, string Name, Parameter Parameter);

    /// <summary>Every floating-point base parameter of <paramref name="model"/> (the Hugging Face keys), adapters and
    /// routers excluded.</summary>
    internal static List<Slot> Slots(MoeCausalLM model)
    {
        var modules = new List<(string Name, nn.Module Module)> { ("", model) };
        modules.AddRange(model.named_modules());
        var slots = new List<Slot>();
        foreach (var (moduleName, module) in modules)
            foreach (var (name, p) in module.named_parameters(recurse: false))
            {
                string full = moduleName.Length == 0 ? name : moduleName + "." + name;
                if (MoeCausalLM.IsBaseParameterName(full) && p.is_floating_point()) slots.Add(new Slot(module, name, full, p));
            }
        return slots;
    }

    /// <summary>Gives the slot <paramref name="value"/> (taken over, not copied) as a new parameter with the old one's
    /// requires_grad: re-registered under its name, the module fields that held the old one pointed at the new one, as
    /// TorchSharp's own <c>Module.to</c> does; the old parameter is disposed. Returns the new parameter.</summary>
    internal static Parameter Replace(Slot slot, Tensor value)
    {
        var replacement = new Parameter(value, requires_grad: slot.Parameter.requires_grad);
        RegisterOrReplace.Invoke(slot.Module, new object[] { slot.LocalName, replacement });
        for (Type? type = slot.Module.GetType(); type is not null && type != typeof(object); type = type.BaseType)
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (field.FieldType.IsAssignableFrom(typeof(Parameter)) && ReferenceEquals(field.GetValue(slot.Module), slot.Parameter))
                    field.SetValue(slot.Module, replacement);
        // Modules with native state (Embedding) take a new weight only through their property setter.
        PropertyInfo? property = slot.Module.GetType().GetProperty(slot.LocalName, BindingFlags.Instance | BindingFlags.Public);
        if (property is { CanWrite: true } && property.PropertyType.IsAssignableFrom(typeof(Parameter))) property.SetValue(slot.Module, replacement);
        slot.Parameter.Dispose();
        return replacement;
    }

    private static readonly MethodInfo RegisterOrReplace =
        typeof(nn.Module).GetMethod("ConditionallyRegisterParameter", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, null, new[] { typeof(string), typeof(Tensor) }, null)
        ?? throw new MissingMethodException("TorchSharp.torch.nn.Module.ConditionallyRegisterParameter(string, Tensor) is missing; this TorchSharp is not 0.107");

    // ------------------------------------------------------------------ no random init for a base a checkpoint fills

    [ThreadStatic] private static LlamaConfig? pendingCheckpointConfig;
    [ThreadStatic] private static int uninitialisedDepth;

    /// <summary>Marks <paramref name="config"/> (this instance) as read for loading a checkpoint: the next model built on
    /// it on this thread allocates its frozen weights uninitialised, because the loader overwrites every one of them
    /// (<see cref="MoeCausalLM.LoadBase(string, ScalarType)"/> requires every base tensor). Returns the config.</summary>
    internal static LlamaConfig ForCheckpoint(LlamaConfig config)
    {
        pendingCheckpointConfig = config;
        return config;
    }

    /// <summary>Consumes the mark of <see cref="ForCheckpoint"/>: true when <paramref name="config"/> is the config marked
    /// last on this thread.</summary>
    internal static bool TakeCheckpointMark(LlamaConfig config)
    {
        bool marked = ReferenceEquals(pendingCheckpointConfig, config);
        pendingCheckpointConfig = null;
        return marked;
    }

    /// <summary>While a model is built for a checkpoint (inside the returned scope): frozen weights are created with
    /// <c>empty</c> and not initialised.</summary>
    internal static IDisposable Uninitialised(bool active) => new UninitialisedScope(active);

    /// <summary>Whether frozen weights created now are left uninitialised (a checkpoint fills them).</summary>
    internal static bool LeaveUninitialised => uninitialisedDepth > 0;

    /// <summary>Where a TorchSharp <c>nn.Linear</c> (which initialises its own weight) is created: the meta device (shapes
    /// only, no memory, no random draws) while <see cref="LeaveUninitialised"/>, then <see cref="Materialise"/>d; null (the
    /// CPU) otherwise.</summary>
    internal static Device? InitDevice => LeaveUninitialised ? META : null;

    /// <summary>Gives a module's frozen <paramref name="parameter"/> (created on <see cref="InitDevice"/>, or by a native
    /// module) new uninitialised CPU memory of its shape through <see cref="Replace"/>, for the checkpoint loader to fill
    /// in place. Untouched pages cost no resident memory.</summary>
    internal static void Materialise(nn.Module module, string name, Parameter parameter)
        => Replace(new Slot(module, name, name, parameter), empty(parameter.shape, parameter.dtype));

    private sealed class UninitialisedScope : IDisposable
    {
        private bool active;

        public UninitialisedScope(bool active)
        {
            this.active = active;
            if (active) uninitialisedDepth++;
        }

        public void Dispose()
        {
            if (!active) return;
            active = false;
            uninitialisedDepth--;
        }
    }
}
