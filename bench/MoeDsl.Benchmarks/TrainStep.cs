using System;
using System.Diagnostics;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;
using static TorchSharp.torch;
using MoeDsl.Runtime.Experts;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Benchmarks;

/// <summary>Milliseconds of the phases of one training step.</summary>
internal readonly record struct StepTimes(double Forward, double Backward, double Optimizer)
{
    public double Total => Forward + Backward + Optimizer;
}

/// <summary>One full adapter training step on a fixed batch: forward, LM loss + auxiliary loss, backward, AdamW step,
/// zero grad — one dispose scope per step. The phases are timed with host synchronisation only between them (on CPU
/// every op has finished when it returns).</summary>
internal sealed class TrainStep : IDisposable
{
    private readonly SpecModel model;
    private readonly TorchSharp.Modules.AdamW optimizer;
    private readonly Tensor inputIds;
    private readonly Tensor labels;

    public TrainStep(SpecModel model, BenchShape shape, long seed, ExpertExecution execution = ExpertExecution.Auto)
    {
        this.model = model;
        foreach (var ffn in model.modules().OfType<MoeFeedForward>()) ffn.Execution = execution;
        model.train();
        var parameters = model.AdapterParameters().Select(p => p.Parameter).ToArray();
        if (parameters.Length == 0) throw new InvalidOperationException($"{model.Spec.Name} has no trainable parameters");
        optimizer = optim.AdamW(parameters, lr: 1e-4);
        var generator = new Generator((ulong)seed);
        inputIds = randint(0, shape.Config.VocabSize, new long[] { shape.Batch, shape.SequenceLength }, dtype: ScalarType.Int64, generator: generator);
        labels = inputIds.clone();
        TrainableParameters = parameters.Sum(p => p.numel());
    }

    /// <summary>The step every model-level figure uses: <paramref name="spec"/> on <paramref name="shape"/>'s base, model
    /// seed 1 and batch seed 7, so that all figures and child processes train the same initial model on the same batch;
    /// the frozen base in <paramref name="baseDType"/> (docs/precision.md).</summary>
    public static TrainStep Create(ModelSpec spec, BenchShape shape, ExpertExecution execution, ScalarType baseDType = ScalarType.Float32)
    {
        SpecModel model = Specs.Build(shape.Config, spec, 1);
        MoeDsl.Runtime.Native.DeviceSelection.CastBase(model, baseDType); // fp32: nothing to do; bf16: the frozen base only
        return new(model, shape, 7, execution);
    }

    public SpecModel Model => model;
    public long TrainableParameters { get; }

    /// <summary>Runs one step; returns the phase times.</summary>
    public StepTimes Run()
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        using CausalLMOutput output = model.Forward(inputIds);
        Tensor loss = LanguageModelLoss.Compute(output.Logits, labels);
        if (output.AuxLoss is not null) loss = loss + output.AuxLoss;
        double forward = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        loss.backward();
        double backward = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        FusedAdamW.Step(optimizer);
        optimizer.zero_grad();
        double step = sw.Elapsed.TotalMilliseconds;
        return new StepTimes(forward, backward, step);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        inputIds.Dispose();
        labels.Dispose();
        model.Dispose();
    }
}
