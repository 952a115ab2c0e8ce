using System;
using System.Collections.Generic;
using MoeDsl.Runtime.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Training;

/// <summary>A step of TorchSharp's <see cref="AdamW"/> with the update of every fp32 CPU parameter done by one fused
/// memory pass (<see cref="AdamWKernel"/>) instead of eight tensor ops and two temporaries per parameter. It works on the
/// optimizer's own state objects (same hyperparameters per group, same step counting: a parameter without a gradient is
/// skipped and its step not counted), so the optimizer, its <c>save_state_dict</c> files and resumed checkpoints stay
/// TorchSharp's. It falls back to <c>optimizer.step()</c> when any parameter or moment is off the CPU, not fp32 or not
/// contiguous, a group asks for amsgrad or maximize, or the CPU lacks AVX2/FMA (<see cref="ExpertKernels.Accelerated"/>).
/// A MixLoRA adapter has about four times the tensors of a plain
/// LoRA one (every expert's A and B), so the optimizer's share of a step grows with it; this keeps that share one pass.</summary>
public static class FusedAdamW
{
    /// <summary>Runs one optimizer step (gradients already accumulated); returns whether the fused kernel ran (false:
    /// TorchSharp's own update ran).</summary>
    public static bool Step(AdamW optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        using var scope = NewDisposeScope();   // the gradient handles read here (each param.grad read is a new handle)
        var work = Plan(optimizer);
        if (work is null)
        {
            optimizer.step();
            return false;
        }
        var tensors = new List<AdamWTensor>(work.Count);
        foreach (var (param, grad, state, options) in work)
        {
            double lr = options.LearningRate!.Value, beta1 = options.beta1!.Value, beta2 = options.beta2!.Value;
            state.step += 1;
            var constants = new AdamWConstants(
                Decay: (float)(1 - lr * options.weight_decay!.Value),
                Beta1: (float)beta1,
                Beta2: (float)beta2,
                OneMinusBeta1: (float)(1 - beta1),
                OneMinusBeta2: (float)(1 - beta2),
                SqrtBiasCorrection2: (float)Math.Sqrt(1 - Math.Pow(beta2, state.step)),
                Eps: (float)options.eps!.Value,
                StepSize: (float)(lr / (1 - Math.Pow(beta1, state.step))));
            unsafe
            {
                tensors.Add(new AdamWTensor((IntPtr)ExpertKernels.Data<float>(param), (IntPtr)ExpertKernels.Data<float>(grad),
                    (IntPtr)ExpertKernels.Data<float>(state.exp_avg), (IntPtr)ExpertKernels.Data<float>(state.exp_avg_sq), param.numel(), constants));
            }
        }
        AdamWKernel.StepAll(tensors);   // the tensors stay alive: work holds them until here
        GC.KeepAlive(work);
        return true;
    }

    /// <summary>The parameters with gradients, their state and group options; null when any of them cannot be fused.
    /// The optimizer's state list is in group-then-parameter order (TorchSharp's state_dict), the order walked here.</summary>
    private static List<(Parameter Param, Tensor Grad, AdamW.State State, AdamW.Options Options)>? Plan(AdamW optimizer)
    {
        var states = optimizer.state_dict().State;
        var work = new List<(Parameter, Tensor, AdamW.State, AdamW.Options)>();
        int index = 0;
        foreach (var controller in optimizer.ParamGroups)
        {
            if (controller is not ParamGroup group || group.Options is not AdamW.Options options || options.amsgrad == true || options.maximize == true) return null;
            foreach (Parameter param in group.Parameters)
            {
                if (index >= states.Count || states[index++] is not AdamW.State state) return null;
                Tensor? grad = param.grad;
                if (grad is null) continue;
                foreach (Tensor t in new[] { param, grad, state.exp_avg, state.exp_avg_sq })
                    if (!ExpertKernels.Supports(t) || !t.is_contiguous() || t.numel() != param.numel()) return null;   // Supports: AVX2/FMA, CPU, fp32
                work.Add((param, grad, state, options));
            }
        }
        return index == states.Count ? work : null;
    }
}
