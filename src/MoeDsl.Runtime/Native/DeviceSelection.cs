using System;
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
    /// <paramref name="baseDType"/> (default <see cref="BaseDtype"/>: bf16 on CUDA, fp32 on the CPU; bf16 on the CPU on
    /// request, docs/precision.md); adapters and routers stay fp32.</summary>
    public static void Place(MoeCausalLM model, Device device, ScalarType? baseDType = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(device);
        ScalarType dtype = FrozenBase.Check(baseDType ?? BaseDtype(device));
        if (device.type != DeviceType.CPU) model.to(device);
        CastBase(model, dtype);
    }

    /// <summary>Casts only the frozen base parameters (embeddings, norms, projections' <c>weight</c> and <c>bias</c>, head)
    /// to <paramref name="dtype"/>; LoRA experts and routers are not touched (no round trip through bf16). Each cast
    /// parameter replaces the old one under its name and in the module fields that held it
    /// (<see cref="FrozenBase"/>). Call it before creating an optimizer over base parameters.</summary>
    public static void CastBase(MoeCausalLM model, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var _ = no_grad();
        foreach (FrozenBase.Slot slot in FrozenBase.Slots(model))
            if (slot.Parameter.dtype != dtype) FrozenBase.Replace(slot, slot.Parameter.detach().to(dtype));
    }
}
