using System;
using System.Collections.Generic;
using System.Linq;

namespace MoeDsl.Cli;

/// <summary>One option of the command line: its name (without <c>--</c>), the word shown for its value (null for a flag),
/// its description, its default (shown in help and used when the option is absent; null: none) and, for a word from a
/// fixed set, the set (shown, completed and checked).</summary>
public sealed record CliOption(string Name, string? ValueName, string Description, string? Default = null, IReadOnlyList<string>? Choices = null)
{
    /// <summary>Whether the option is a flag (takes no value).</summary>
    public bool IsFlag => ValueName is null;
}

/// <summary>One verb: its name, description and options (with whether each is required for it).</summary>
public sealed record CliVerb(string Name, string Description, IReadOnlyList<(string Option, bool Required)> Options);

/// <summary>The command line's options and verbs: the ONE table the parser (<see cref="CommandLineArguments"/>), the
/// help, the completions and docs/cli.md follow. A new option is one row in <see cref="All"/> and its name in the verbs
/// that take it.</summary>
public static class CliOptions
{
    /// <summary>Every option, by name.</summary>
    public static readonly IReadOnlyDictionary<string, CliOption> All = new CliOption[]
    {
        // common to every verb
        new("libtorch", "DIR", "an existing libtorch (a PyTorch install's torch/lib) to load instead of the bundled one; MOEDSL_LIBTORCH does the same"),
        new("device", "DEVICE", "where to run: cpu, cuda (the first GPU) or auto (cuda when available, else cpu)", "cpu", new[] { "cpu", "cuda", "auto" }),
        new("threads", "N", "torch's intra-op CPU threads (default: torch's choice, one per core)"),
        new("base-dtype", "DTYPE", "dtype of the frozen base weights and activations: auto (bf16 on cuda, fp32 on cpu), fp32 or bf16; LoRA, routers and losses stay fp32 (docs/precision.md)", "auto", new[] { "auto", "fp32", "bf16" }),
        // model and data
        new("method", "NAME", "the declaration to use (see 'moedsl methods'); re-shaped to the base given with --model"),
        new("spec", "FILE", "a JSON declaration (the attributes' fields; docs/declaration-specs.md) to use instead of --method, checked by the generator's own rules"),
        new("model", "DIR", "a Hugging Face checkpoint folder (config.json + model.safetensors, tokenizer.json for text) or 'embedded' (the project's tiny base, pre-trained once per user and cached)"),
        new("adapter", "DIR", "an adapter folder written by train (adapter_config.json + adapter_model.safetensors)"),
        new("data", "FILES", "JSONL file(s), comma-separated (several = multi-task, mixed), or 'embedded' (the project's tasks)"),
        new("task", "NAMES", "the layout of each --data file, comma-separated in the same order: text, prompt-completion, multiple-choice, arc, boolq, obqa, piqa, siqa, hellaswag, winogrande (with 'embedded': which embedded tasks)"),
        new("out", "PATH", "the output: a run folder (train), a merged checkpoint folder (merge), a results JSON file (eval)"),
        new("max-length", "N", "longest sequence in tokens; longer ones are truncated (and counted)", "512"),
        new("pack", null, "sequence packing: several examples per --max-length sequence (first-fit decreasing), attention kept within each example, positions restarting; --batch-size then counts packed sequences"),
        new("skip-bad-lines", null, "skip (and count) JSONL lines that do not parse instead of stopping at the first"),
        // training
        new("steps", "N", "optimizer steps", "200"),
        new("batch-size", "N", "sequences per micro-batch", "8"),
        new("lr", "RATE", "peak learning rate of the adapters (AdamW)", "2e-4"),
        new("schedule", "KIND", "learning-rate schedule after the warm-up", "cosine", new[] { "constant", "linear", "cosine" }),
        new("warmup", "N", "linear warm-up steps (at most --steps)", "0"),
        new("weight-decay", "W", "AdamW decoupled weight decay of the LoRA parameters", "0"),
        new("router-weight-decay", "W", "AdamW weight decay of the routers", "0"),
        new("grad-accum", "N", "micro-batches per optimizer step", "1"),
        new("max-grad-norm", "NORM", "clip the global gradient norm to this (0: no clipping)", "1.0"),
        new("seed", "N", "seed of the adapter's initialisation, dropout and batch order (train), or of sampling (generate)", "42"),
        new("mask-prompt", null, "train on the answer tokens only (the default for prompt/answer layouts)"),
        new("no-mask-prompt", null, "train on the prompt tokens too"),
        new("eval-data", "FILES", "held-out JSONL file(s) (or 'embedded') whose loss is evaluated every --eval-every steps"),
        new("eval-task", "NAMES", "the layout of each --eval-data file (default: --task)"),
        new("eval-every", "N", "evaluate the held-out loss every N steps and at the end (0: never; needs --eval-data)", "0"),
        new("save-every", "N", "write a checkpoint every N steps (0: only at the end and on Ctrl-C)", "0"),
        new("resume", null, "continue the run in --out from its newest complete checkpoint, bit for bit"),
        new("resume-with-changes", null, "with --resume: continue although training settings changed (recorded in metrics.jsonl)"),
        new("max-non-finite", "N", "stop after this many non-finite steps in a row (each is skipped)", "10"),
        new("no-plots", null, "write no PNG figures (metrics.jsonl and tensorboard/ hold the numbers)"),
        // evaluation
        new("limit", "N", "score at most N items per task (0: all)", "0"),
        // generation
        new("prompt-ids", "IDS", "the prompt as comma-separated token ids, e.g. 1,15,27"),
        new("prompt", "TEXT", "the prompt as text (needs the model's tokenizer)"),
        new("max-new-tokens", "N", "tokens to generate", "64"),
        new("temperature", "T", "sampling temperature; 0 (up to 1e-6) is greedy, the argmax", "0"),
        new("top-k", "K", "sample among the K most likely tokens only (0: all)", "0"),
        new("format", "FORMAT", "how the generated tokens are printed", "ids", new[] { "ids", "json", "text" }),
        new("stop-at-eos", null, "stop at the end-of-sequence token"),
    }.ToDictionary(o => o.Name, StringComparer.Ordinal);

    /// <summary>Options every verb takes.</summary>
    public static readonly IReadOnlyList<string> Common = new[] { "libtorch", "device", "threads", "base-dtype" };

    private static (string, bool) R(string name) => (name, true);
    private static (string, bool) O(string name) => (name, false);

    /// <summary>Every verb with its options, in the order help lists them.</summary>
    public static readonly IReadOnlyList<CliVerb> Verbs = new CliVerb[]
    {
        new("train", "Fine-tune a declaration's adapters on a base: checkpoints, exact resume, metrics.jsonl, TensorBoard scalars, PNG figures.", new[]
        {
            O("method"), O("spec"), R("model"), R("data"), O("task"), R("out"), O("steps"), O("batch-size"), O("lr"), O("schedule"), O("warmup"), O("weight-decay"),
            O("router-weight-decay"), O("grad-accum"), O("max-grad-norm"), O("seed"), O("max-length"), O("mask-prompt"), O("no-mask-prompt"),
            O("pack"), O("skip-bad-lines"), O("eval-data"), O("eval-task"), O("eval-every"), O("save-every"), O("resume"), O("resume-with-changes"),
            O("max-non-finite"), O("no-plots"),
        }),
        new("eval", "Score multiple-choice tasks: label-token accuracy, and option log-likelihood acc / acc_norm (as lm-evaluation-harness).", new[]
        {
            O("method"), O("spec"), R("model"), O("adapter"), R("data"), O("task"), O("out"), O("max-length"), O("limit"), O("skip-bad-lines"),
        }),
        new("generate", "Generate tokens from a prompt, with the base alone or a declaration and its adapter.", new[]
        {
            O("method"), O("spec"), R("model"), O("adapter"), O("prompt-ids"), O("prompt"), O("max-new-tokens"), O("temperature"), O("top-k"), O("seed"), O("format"),
            O("stop-at-eos"),
        }),
        new("inspect", "Per-layer table of a declaration: experts, top-k, rank, router, trainable parameters (LLaMA-2-7B shape without --model).", new[]
        {
            O("method"), O("spec"), O("model"),
        }),
        new("merge", "Fold a plain LoRA adapter into the base: a Hugging Face folder (weights, config, tokenizer) that loads without MoeDsl.", new[]
        {
            O("method"), O("spec"), R("model"), R("adapter"), R("out"),
        }),
        new("methods", "List the declarations this command line knows (--method names).", Array.Empty<(string, bool)>()),
    };

    /// <summary>The default of an option that differs per verb (<c>--seed</c>: 42 for train, 0 for generate).</summary>
    public static string? DefaultFor(string verb, string option) => (verb, option) switch
    {
        ("generate", "seed") => "0",
        _ => All[option].Default,
    };
}
