using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.BaseModel;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Losses;
using MoeDsl.Runtime.Routing;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>A LLaMA causal LM with LoRA / mixture-of-LoRA-experts adapters. Parameter names are the Hugging Face keys
/// (<c>model.layers.N.self_attn.q_proj.weight</c>, <c>lm_head.weight</c>) plus the adapters' keys under them.
/// Generated classes derive from it and supply the per-layer-shape layers. The one-call API (fine-tune, save and load
/// the adapter, evaluate, generate) is in <c>Api/MoeCausalLM.Api.cs</c>.</summary>
public abstract partial class MoeCausalLM : nn.Module
{
    private readonly LlamaModel model;
    private readonly Linear? lm_head;

    /// <summary>Builds the model with randomly initialised (frozen) base weights, its layers wired by
    /// <see cref="ModelBuilder"/>; load a checkpoint with <see cref="LoadBase(string, ScalarType)"/>. <paramref name="spec"/>
    /// must already have <paramref name="config"/>'s shape. A config read for loading a checkpoint (<see cref="ConfigFor"/>,
    /// <see cref="FrozenBase.ForCheckpoint"/>) builds the frozen weights uninitialised instead: the loader fills them all.</summary>
    protected MoeCausalLM(LlamaConfig config, ModelSpec spec)
        : base(spec.Name)
    {
        Config = config;
        Spec = spec;
        Recorder = new RoutingRecorder();
        bool forCheckpoint = FrozenBase.TakeCheckpointMark(config);
        using (FrozenBase.Uninitialised(forCheckpoint))
        {
            model = new LlamaModel(config, i => ModelBuilder.Layer(spec, config, i, Recorder));
            if (!config.TieWordEmbeddings)
            {
                lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: FrozenBase.InitDevice);
                lm_head.weight!.requires_grad = false;
                if (forCheckpoint) FrozenBase.Materialise(lm_head, "weight", lm_head.weight!);
                else using (no_grad()) nn.init.normal_(lm_head.weight!, 0, 0.02);
            }
            if (!forCheckpoint) using (no_grad()) nn.init.normal_(model.EmbedWeight, 0, 0.02);
        }
        RegisterComponents();
    }

    /// <summary>Makes the base weights trainable (pre-training a base) or frozen again (fine-tuning adapters).</summary>
    public void SetBaseTrainable(bool trainable)
    {
        foreach (var (name, p) in named_parameters())
            if (IsBaseParameterName(name)) p.requires_grad = trainable;
    }

    /// <summary>True for the Hugging Face base keys (everything that is not an adapter or router).</summary>
    public static bool IsBaseParameterName(string name)
        => !name.Contains(".lora_A.", StringComparison.Ordinal) && !name.Contains(".lora_B.", StringComparison.Ordinal)
           && !name.Contains(".moe_gate.", StringComparison.Ordinal) && !name.Contains(".experts.", StringComparison.Ordinal);

    /// <summary>The base model's config.</summary>
    public LlamaConfig Config { get; }
    /// <summary>The declaration.</summary>
    public ModelSpec Spec { get; }
    /// <summary>Routing decisions of the last forward (training) for losses and statistics.</summary>
    public RoutingRecorder Recorder { get; }
    /// <summary>The decoder stack.</summary>
    public LlamaModel Model => model;
    /// <summary>Per-layer expert load accumulated while <see cref="ExpertLoad"/> is tracking.</summary>
    public ExpertLoadTracker ExpertLoad { get; } = new();

    /// <summary>Forward over token ids [B, L]. <paramref name="tokenMask"/> [B, L] (1 = real token) restricts the
    /// auxiliary losses to non-padding tokens; <paramref name="losses"/> replaces declared loss coefficients (training);
    /// <paramref name="packing"/>: the rows are packed (several examples each, <see cref="PackedSegments"/>);
    /// <paramref name="lastPositionOnly"/>: the logits of each row's last position only ([B, 1, V]; decoding).</summary>
    public CausalLMOutput Forward(Tensor inputIds, KvCache? cache = null, Tensor? tokenMask = null, LossCoefficients? losses = null, PackedSegments? packing = null, bool lastPositionOnly = false)
    {
        using var scope = NewDisposeScope();
        Recorder.Clear();
        Recorder.Enabled = Spec.IsMixture && (training || ExpertLoad.Tracking);
        try
        {
            Tensor hidden = model.HiddenStates(inputIds, cache, packing);
            if (lastPositionOnly) hidden = hidden.narrow(1, hidden.shape[1] - 1, 1);
            Tensor logits = Kernels.FrozenMatVec.Linear(hidden, lm_head is null ? model.EmbedWeight : lm_head.weight!);
            if (Config.FinalSoftCap is double cap) logits = (logits / cap).tanh() * cap; // Gemma 2

            Tensor? aux = null;
            var parts = new List<(string, Tensor)>();
            if (Recorder.Records.Count > 0)
            {
                if (ExpertLoad.Tracking) ExpertLoad.Add(Recorder.Records, Config.NumHiddenLayers, tokenMask);
                if (training)
                {
                    foreach (var (partName, value) in AuxiliaryLosses.Compute(losses is null ? Spec : losses.ApplyTo(Spec), Recorder.Records, tokenMask))
                    {
                        parts.Add((partName, value.MoveToOuterDisposeScope()));
                        aux = aux is null ? value.alias() : aux + value;
                    }
                }
            }
            return new CausalLMOutput(logits.MoveToOuterDisposeScope(), aux?.MoveToOuterDisposeScope(), parts);
        }
        finally
        {
            Recorder.Clear();
        }
    }

    /// <summary>Adapter (trainable) parameters with their state-dict names.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> AdapterParameters()
        => named_parameters().Where(p => !IsBaseParameterName(p.name)).Select(p => (p.name, p.parameter));

    /// <summary>Base parameters with their Hugging Face names.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> BaseParameters()
        => named_parameters().Where(p => IsBaseParameterName(p.name)).Select(p => (p.name, p.parameter));

    /// <summary>Number of trainable elements, counted on the built model.</summary>
    public long CountAdapterParameters() => AdapterParameters().Sum(p => p.Parameter.numel());

    /// <summary>Loads the base weights of a Hugging Face checkpoint folder into the frozen parameters, in fp32
    /// (<see cref="LoadBase(string, ScalarType)"/>).</summary>
    public void LoadBase(string directory) => LoadBase(directory, ScalarType.Float32);

    /// <summary>Loads the base weights of a Hugging Face checkpoint folder into the frozen parameters, which end in
    /// <paramref name="baseDType"/> (fp32 or bf16, <see cref="FrozenBase"/>) whatever dtype the file stores. Every base
    /// parameter must be present with its shape; tensors the model does not have are an error (except a tied
    /// <c>lm_head.weight</c> and rotary <c>inv_freq</c> buffers, which HF may write and which carry nothing). Tensor by
    /// tensor, straight from the file: a CPU parameter whose asked dtype the file stores becomes a view of the file mapped
    /// copy-on-write (<see cref="SafeTensorsFile.Map"/>: no copy, pages shared with the page cache; read into its own
    /// memory where the entry cannot be mapped or <c>MOEDSL_MMAP=0</c>); any other parameter already in
    /// <paramref name="baseDType"/> is read into its own memory (<see cref="SafeTensorsFile.ReadInto"/>, converting through
    /// a bounded buffer when the file stores another dtype); one
    /// of another dtype is replaced by the tensor read (<see cref="SafeTensorsFile.Read(string, ScalarType)"/>, through the
    /// same buffer), so no second full copy of the base exists at any time. A family's fused tensors (Phi-3's <c>qkv_proj</c>, <c>gate_up_proj</c>:
    /// <see cref="FusedTensor"/>) are read once each and split into the model's projections.</summary>
    public void LoadBase(string directory, ScalarType baseDType)
    {
        FrozenBase.Check(baseDType);
        using var checkpoint = Checkpoint.Open(directory);
        var expected = FrozenBase.Slots(this).ToDictionary(s => s.Name, StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (FusedTensor fused in FusedTensor.Of(Config))
        {
            if (!checkpoint.Contains(fused.Name)) throw new ModelFormatException(directory, fused.Name, $"is missing from the checkpoint ({Config.Family.ModelType} stores these projections fused)");
            long inFeatures = expected[fused.Parts[0].Part].Parameter.shape[1];
            SafeTensorEntry entry = checkpoint.Entry(fused.Name);
            if (!entry.Shape.SequenceEqual(new[] { fused.Rows, inFeatures }))
                throw new ModelFormatException(directory, fused.Name, $"has shape [{string.Join(", ", entry.Shape)}] but the model expects [{fused.Rows}, {inFeatures}] ({string.Join(" | ", fused.Parts.Select(p => $"{p.Part} {p.Rows}"))})");
            using Tensor t = checkpoint.Read(fused.Name, baseDType);
            long row = 0;
            foreach (var (part, rows) in fused.Parts)
            {
                FrozenBase.Slot slot = expected[part];
                using (Tensor piece = t.narrow(0, row, rows))
                {
                    if (slot.Parameter.dtype == baseDType) slot.Parameter.copy_(piece);
                    else FrozenBase.Replace(slot, piece.to(baseDType, copy: true).contiguous());
                }
                expected.Remove(part);
                row += rows;
            }
        }
        var fusedNames = FusedTensor.Of(Config).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in checkpoint.Names.OrderBy(n => n, StringComparer.Ordinal))
        {
            if (expected.ContainsKey(name) || fusedNames.Contains(name)) continue;
            if (name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            if (name == "lm_head.weight" && Config.TieWordEmbeddings) continue;
            throw new ModelFormatException(directory, name, $"is in the checkpoint but not in the model; is the checkpoint a {Config.Family.ModelType} model of this shape?");
        }
        foreach (var (name, slot) in expected.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!checkpoint.Contains(name))
                throw new ModelFormatException(directory, name, Config.TieWordEmbeddings || name != "lm_head.weight"
                    ? "is missing from the checkpoint"
                    : "is missing from the checkpoint and config.json does not set tie_word_embeddings");
            SafeTensorEntry entry = checkpoint.Entry(name);
            if (!entry.Shape.SequenceEqual(slot.Parameter.shape))
                throw new ModelFormatException(directory, name, $"has shape [{string.Join(", ", entry.Shape)}] but the model expects [{string.Join(", ", slot.Parameter.shape)}]");
            if (slot.Parameter.device_type == TorchSharp.DeviceType.CPU && SafeTensorsFile.ToScalarType(entry.DType) == baseDType && checkpoint.Map(name) is Tensor view)
            {
                FrozenBase.Replace(slot, view);
                continue;
            }
            if (slot.Parameter.dtype == baseDType)
            {
                checkpoint.ReadInto(name, slot.Parameter);
                continue;
            }
            FrozenBase.Replace(slot, checkpoint.Read(name, baseDType));
        }
    }

    /// <summary>Shared body of the generated <c>FromPretrained</c>: loads the base in <paramref name="baseDType"/> (default:
    /// bf16 on CUDA, fp32 on the CPU, <see cref="Native.DeviceSelection.BaseDtype"/>) and places the model on the device
    /// (<see cref="Native.DeviceSelection.Place"/>); adapters and routers stay fp32.</summary>
    protected internal static TModel LoadPretrained<TModel>(TModel model, string directory, Device? device, ScalarType? baseDType = null) where TModel : MoeCausalLM
    {
        ScalarType dtype = FrozenBase.Check(baseDType ?? Native.DeviceSelection.BaseDtype(device ?? CPU));
        model.LoadBase(directory, dtype);
        model.BaseDirectory = System.IO.Path.GetFullPath(directory);
        if (device is not null) Native.DeviceSelection.Place(model, device, dtype);
        model.eval();
        return model;
    }

    /// <summary>Reads the config of a checkpoint folder, checks its sizes against the weights' headers
    /// (<see cref="LlamaConfig.LoadMatchingWeights"/>) and checks it against the declaration.</summary>
    protected static LlamaConfig ConfigFor(string directory, ModelSpec spec)
    {
        LlamaConfig config = LlamaConfig.LoadMatchingWeights(directory);
        spec.EnsureMatches(config, System.IO.Path.Combine(directory, "config.json"));
        return FrozenBase.ForCheckpoint(config); // the generated FromPretrained builds on it at once, then loads

    }
}

/// <summary>A frozen base with no adapters (generation and evaluation of a plain checkpoint).</summary>
public sealed class PlainCausalLM : MoeCausalLM
{
    private PlainCausalLM(LlamaConfig config) : base(config, ModelSpec.FrozenBase(config)) { }

    /// <summary>Builds a randomly initialised base of this shape.</summary>
    public static PlainCausalLM Create(LlamaConfig config) => new(config);

    /// <summary>Loads a Hugging Face checkpoint folder (its config checked against the weights' headers first), the
    /// frozen base in <paramref name="baseDType"/> (default: bf16 on CUDA, fp32 on the CPU; docs/precision.md).</summary>
    public static PlainCausalLM FromPretrained(string directory, Device? device = null, ScalarType? baseDType = null)
        => LoadPretrained(new PlainCausalLM(FrozenBase.ForCheckpoint(LlamaConfig.LoadMatchingWeights(directory))), directory, device, baseDType);
}
