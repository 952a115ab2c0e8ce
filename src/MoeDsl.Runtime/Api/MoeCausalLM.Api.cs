using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Api;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Training;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>The common path, one call each: <see cref="FineTune"/>, <see cref="SaveAdapter"/>, <see cref="LoadAdapter"/>,
/// <see cref="Evaluate"/>, <see cref="Generate(string, GenerationOptions?)"/>. A generated class adds a
/// <c>FineTune</c> typed for its own <c>TrainingOptions</c>.</summary>
public abstract partial class MoeCausalLM
{
    private ITokenizer? tokenizer;
    private bool tokenizerLoaded;

    /// <summary>The checkpoint folder the base was loaded from (<c>FromPretrained</c>); null for a model built with
    /// <c>Create</c>. Recorded in adapter_config.json as <c>base_model_name_or_path</c>.</summary>
    public string? BaseDirectory { get; private set; }

    /// <summary>The tokenizer text data and text prompts go through: by default the base folder's <c>tokenizer.json</c>
    /// or <c>char_tokenizer.json</c> (<see cref="Data.Tokenizers.Load"/>, read on first use), null when it has neither (then
    /// train on token sequences and generate from token ids). Settable for a tokenizer kept elsewhere.</summary>
    public ITokenizer? Tokenizer
    {
        get
        {
            if (!tokenizerLoaded && BaseDirectory is not null) tokenizer = Data.Tokenizers.Load(BaseDirectory);
            tokenizerLoaded = true;
            return tokenizer;
        }
        set
        {
            tokenizer = value;
            tokenizerLoaded = true;
        }
    }

    /// <summary>Fine-tunes the adapters on <paramref name="data"/> with <see cref="TrainingRun"/>, the training loop of
    /// <c>moedsl train</c>: AdamW, the schedule, metrics, checkpoints and exact resume when
    /// <see cref="FineTuneOptions.OutputDirectory"/> is set, the final adapter written when there is a folder for it. The
    /// base stays frozen; the model is left in eval mode. Bad options throw <see cref="ArgumentException"/> naming the option.</summary>
    public TrainingRunResult FineTune(TrainingData data, FineTuneOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= new FineTuneOptions();
        TrainerOptions trainerOptions = options.ToTrainerOptions();
        SequenceOptions sequenceOptions = options.ToSequenceOptions();
        ITokenizer? tok = data.NeedsTokenizer || options.EvalData?.NeedsTokenizer == true ? Tokenizer : null;
        long padId = PadId(tok);
        Device device = Model.EmbedWeight.device;
        int seed = (int)trainerOptions.Seed;

        IReadOnlyList<TokenSequence> pool = data.Pool(tok, sequenceOptions, seed);
        if (options.Pack) pool = SequencePacker.Pack(pool, sequenceOptions.MaxTokens).Rows;
        var source = new SequencePoolBatches(pool, options.BatchSize, padId, seed, device);
        Func<double>? evaluate = null;
        if (options.EvalData is not null)
        {
            if (options.EvalEvery < 1) throw new ArgumentException("EvalData needs EvalEvery >= 1 (the steps between evaluations)", nameof(options));
            IReadOnlyList<TokenSequence> held = options.EvalData.Pool(tok, sequenceOptions with { MaskPrompt = true }, seed);
            evaluate = () => Trainer.EvaluateLoss(this, TokenBatch.Chunks(held, options.BatchSize, padId, device));
        }
        else if (options.EvalEvery > 0) throw new ArgumentException("EvalEvery needs EvalData (held-out data to evaluate)", nameof(options));

        var run = new TrainingRun(this, trainerOptions, source, new TrainingRunOptions
        {
            OutputDirectory = options.OutputDirectory,
            AdapterDirectory = options.AdapterDirectory,
            SaveEvery = options.SaveEvery,
            EvalEvery = options.EvalEvery,
            Resume = options.Resume,
            AllowSettingChanges = options.AllowSettingChanges,
            BaseModelNameOrPath = BaseDirectory ?? "",
            RunKey = TrainingRun.KeyOf(Spec.Name, pool, options.BatchSize, trainerOptions.GradientAccumulation, trainerOptions.Seed),
        })
        {
            StopRequested = () => options.Cancellation.IsCancellationRequested,
            Evaluate = evaluate,
            OnStep = options.OnStep,
            OnEvaluate = options.OnEvaluate,
            OnCheckpoint = options.OnCheckpoint,
        };
        try { return run.Run(); }
        finally { eval(); }
    }

    /// <summary>Writes the adapter (<c>adapter_model.safetensors</c> + <c>adapter_config.json</c>, the whole declaration)
    /// into <paramref name="directory"/>, created if needed (<see cref="AdapterStore.Save"/>).</summary>
    public void SaveAdapter(string directory) => AdapterStore.Save(this, directory, BaseDirectory ?? "");

    /// <summary>Loads an adapter saved for this declaration and base shape (<see cref="AdapterStore.Load"/>); a mismatch
    /// throws naming the first differing field or tensor.</summary>
    public void LoadAdapter(string directory) => AdapterStore.Load(this, directory);

    /// <summary>Measures the model on held-out <paramref name="data"/>: the mean next-token loss (prompts masked) over all
    /// of it, and the accuracies of each multiple-choice part.</summary>
    public EvaluationResult Evaluate(TrainingData data, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= new EvaluationOptions();
        ITokenizer? tok = data.NeedsTokenizer ? Tokenizer : null;
        var sequenceOptions = new SequenceOptions { MaxTokens = options.MaxTokens, MaskPrompt = true };
        IReadOnlyList<TokenSequence> sequences = data.Pool(tok, sequenceOptions, seed: 0);
        double loss = Trainer.EvaluateLoss(this, TokenBatch.Chunks(sequences, options.BatchSize, PadId(tok), Model.EmbedWeight.device));
        var accuracies = data.MultipleChoiceFiles
            .Select(p => MultipleChoiceScorer.Evaluate(this, p.Task, SequenceBuilder.BuildEvaluation(p.File, tok!, sequenceOptions, p.Task)))
            .ToArray();
        return new EvaluationResult(loss, accuracies);
    }

    /// <summary>Continues <paramref name="prompt"/> and returns the new text only. The prompt is encoded with
    /// <see cref="Tokenizer"/> after its BOS. Default options: greedy, at most 64 new tokens, stopping after EOS.</summary>
    public string Generate(string prompt, GenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ITokenizer tok = Tokenizer ?? throw new InvalidOperationException(
            $"{Spec.Name} has no tokenizer to encode a text prompt: put tokenizer.json (or char_tokenizer.json) in the model folder, set Tokenizer, or generate from token ids");
        IReadOnlyList<int> ids = tok.Encode(prompt);
        long[] promptIds = (tok.BosId is int bos ? ids.Prepend(bos) : ids).Select(i => (long)i).ToArray();
        IReadOnlyList<long> generated = Generate(promptIds, options ?? new GenerationOptions(StopAtEos: true));
        return tok.Decode(generated.Select(i => (int)i));
    }

    /// <summary>The token ids that follow <paramref name="promptIds"/> (not included) under <paramref name="options"/>
    /// (default: greedy, 64 tokens; <see cref="TextGenerator.Generate"/>).</summary>
    public IReadOnlyList<long> Generate(IReadOnlyList<long> promptIds, GenerationOptions? options = null)
        => TextGenerator.Generate(this, promptIds, options ?? new GenerationOptions());

    // Padding is never scored and sits after every real token; any id of the vocabulary would do.
    private long PadId(ITokenizer? tok) => tok?.PadId ?? tok?.EosId ?? Config.EosTokenId;
}
