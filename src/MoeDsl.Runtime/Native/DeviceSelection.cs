using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using TorchSharp.Modules;
using MoeDsl.Runtime.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Native;

/// <summary>Device choice and the CUDA precision policy: frozen base weights in bf16, LoRA experts and
/// routers in fp32 (the layers cast at the adapter boundaries).</summary>
public static class DeviceSelection
{
    /// <summary>Parses a device request: <c>auto</c> (CUDA when available, else CPU), <c>cpu</c>, <c>cuda</c> or
    /// <c>cuda:N</c>. Loads libtorch from <c>$MOEDSL_LIBTORCH</c> first when it is set. A CUDA request on a process
    /// without a usable CUDA backend is an error that says how to get one.</summary>
    public static Device Pick(string? request = "auto")
    {
        LibTorchLoader.LoadFromEnvironment();
        string r = (request ?? "auto").Trim().ToLowerInvariant();
        if (r is "" or "auto") return cuda.is_available() ? CUDA : CPU;
        if (r == "cpu") return CPU;
        if (r == "cuda" || r.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int index = 0;
            if (r.Length > 5 && !int.TryParse(r.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
                throw new ArgumentException($"device '{request}': the CUDA index must be a non-negative integer, e.g. cuda:0", nameof(request));
            if (!cuda.is_available())
                throw new InvalidOperationException($"device '{request}': CUDA is not available in this process. Build with -p:TorchBackend=cuda (TorchSharp-cuda-linux) " +
                    $"or -p:TorchBackend=external and set {LibTorchLoader.EnvironmentVariable} to a CUDA PyTorch's torch/lib, on a machine with an NVIDIA driver");
            int count = cuda.device_count();
            if (index >= count)
                throw new ArgumentException($"device '{request}': this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})", nameof(request));
            return new Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"device '{request}' is not one of auto, cpu, cuda, cuda:N", nameof(request));
    }

    /// <summary>The dtype of the frozen base on <paramref name="device"/>: bf16 on CUDA, fp32 on the CPU.</summary>
    public static ScalarType BaseDtype(Device device) => device.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>Moves the model to <paramref name="device"/> and casts the frozen base parameters to
    /// <see cref="BaseDtype"/>; adapters and routers stay fp32.</summary>
    public static void Place(MoeCausalLM model, Device device)
    {
        if (device.type != DeviceType.CPU) model.to(device);
        CastBase(model, BaseDtype(device));
    }

    /// <summary>Casts only the frozen base parameters (embeddings, norms, projections' <c>weight</c>, head) to
    /// <paramref name="dtype"/>; LoRA experts and routers are not touched (no round trip through bf16). Each cast
    /// parameter is re-registered under its name and the module fields that held it are pointed at the new one, as
    /// TorchSharp's own <c>Module.to</c> does. Call it before creating an optimizer over base parameters.</summary>
    public static void CastBase(MoeCausalLM model, ScalarType dtype)
    {
        using var _ = no_grad();
        var modules = new List<(string Name, nn.Module Module)> { ("", model) };
        modules.AddRange(model.named_modules());
        foreach (var (moduleName, module) in modules)
        {
            foreach (var (name, p) in module.named_parameters(recurse: false).ToArray())
            {
                string full = moduleName.Length == 0 ? name : moduleName + "." + name;
                if (!MoeCausalLM.IsBaseParameterName(full) || p.dtype == dtype || !p.is_floating_point()) continue;
                var cast = new Parameter(p.detach().to(dtype), requires_grad: p.requires_grad);
                Reregister(module, name, cast);
                ReplaceFields(module, p, cast);
                // Modules with native state (Embedding) take a new weight only through their property setter.
                PropertyInfo? property = module.GetType().GetProperty(name, BindingFlags.Instance | BindingFlags.Public);
                if (property is { CanWrite: true } && property.PropertyType.IsAssignableFrom(typeof(Parameter))) property.SetValue(module, cast);
                p.Dispose();
            }
        }
    }

    private static readonly MethodInfo RegisterOrReplace =
        typeof(nn.Module).GetMethod("ConditionallyRegisterParameter", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, null, new[] { typeof(string), typeof(Tensor) }, null)
        ?? throw new MissingMethodException("TorchSharp.torch.nn.Module.ConditionallyRegisterParameter(string, Tensor) is missing; this TorchSharp is not 0.107");

    /// <summary>Replaces a registered parameter (TorchSharp's <c>register_parameter</c> refuses an existing name; its
    /// <c>Module.to</c> uses this internal method).</summary>
    private static void Reregister(nn.Module module, string name, Parameter value) => RegisterOrReplace.Invoke(module, new object[] { name, value });

    private static void ReplaceFields(nn.Module module, Parameter old, Parameter replacement)
    {
        for (Type? type = module.GetType(); type is not null && type != typeof(object); type = type.BaseType)
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (field.FieldType.IsAssignableFrom(typeof(Parameter)) && ReferenceEquals(field.GetValue(module), old))
                    field.SetValue(module, replacement);
    }
}
