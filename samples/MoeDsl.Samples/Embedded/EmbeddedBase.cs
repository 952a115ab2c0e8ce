using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using MoeDsl.Runtime.Data;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using MoeDsl.Runtime.Training;

namespace MoeDsl.Samples.Embedded;

/// <summary>The project's own tiny LLaMA base: pre-trained on <see cref="SyntheticCorpus"/> the first time it is needed
/// and cached once per user (<see cref="DefaultCacheDirectory"/>) as a Hugging Face checkpoint folder (config.json +
/// model.safetensors + char_tokenizer.json + recipe.txt), so the folder also works as <c>--model DIR</c> for the CLI. No
/// downloads.</summary>
public static class EmbeddedBase
{
    /// <summary>Shape of the embedded base (GQA, untied head, like LLaMA-2/3 in miniature).</summary>
    public static readonly LlamaConfig Config = new(
        HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 4, NumAttentionHeads: 4, NumKeyValueHeads: 2,
        VocabSize: EmbeddedVocabulary.Size, RmsNormEps: 1e-5, RopeTheta: 10000, TieWordEmbeddings: false,
        MaxPositionEmbeddings: 256, BosTokenId: EmbeddedVocabulary.Bos, EosTokenId: EmbeddedVocabulary.Eos);

    /// <summary>Pre-training recipe; changing it invalidates the cache.</summary>
    public sealed record Recipe(int Steps = 500, int BatchSize = 32, int SequenceLength = 64, double LearningRate = 3e-3, int Seed = 1234, int Sequences = 4000)
    {
        /// <summary>A stable text form stored beside the weights.</summary>
        public string Describe() => $"embedded-base v1 {Config} steps={Steps} batch={BatchSize} len={SequenceLength} lr={LearningRate} seed={Seed} sequences={Sequences}";

        /// <summary>A short folder name for this recipe: <c>v1-</c> and 12 hex digits of the SHA-256 of <see cref="Describe"/>.</summary>
        public string Key => "v1-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Describe())))[..12];
    }

    /// <summary>Environment variable naming the cache folder to use instead of the per-user one (tests use it to work in a
    /// folder of their own).</summary>
    public const string CacheVariable = "MOEDSL_EMBEDDED_CACHE";

    /// <summary>Default cache folder: <see cref="CacheVariable"/> when set, else the user's cache
    /// (<see cref="UserCache.Root"/>, e.g. <c>~/.cache/moedsl/embedded-base/v1-…</c>), one folder per recipe, so that the
    /// moedsl tool, the examples and user programs pre-train the base once per user, and programs of different versions
    /// never replace each other's base.</summary>
    public static string DefaultCacheDirectory => CacheDirectoryFor(new Recipe());

    /// <summary>The cache folder of <paramref name="recipe"/>: <see cref="CacheVariable"/> when set, else
    /// <c>embedded-base/&lt;recipe key&gt;</c> in the user's cache.</summary>
    public static string CacheDirectoryFor(Recipe recipe)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        return Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } chosen ? chosen : Path.Combine(UserCache.Root, "embedded-base", recipe.Key);
    }

    /// <summary>The lock file guarding a cache folder: beside it (the folder itself is replaced by a rename).</summary>
    public static string LockFileOf(string cacheDirectory) => Path.GetFullPath(cacheDirectory).TrimEnd(Path.DirectorySeparatorChar) + ".lock";

    /// <summary>Returns the folder of a pre-trained base, training and caching it first if needed. Concurrent first
    /// uses (threads or processes) are serialised by a <see cref="FolderLock"/> beside the folder: one pre-trains, the
    /// others wait for it and then use its cache; a holder that dies releases the lock, and the next one pre-trains.</summary>
    public static string Ensure(string? cacheDirectory = null, Recipe? recipe = null, Action<string>? log = null)
    {
        recipe ??= new Recipe();
        string dir = Path.GetFullPath(cacheDirectory ?? CacheDirectoryFor(recipe));
        if (IsCached(dir, recipe)) return UseCache(dir, log);
        using FolderLock held = FolderLock.Wait(LockFileOf(dir), Timeout.InfiniteTimeSpan,
            holder => log?.Invoke($"embedded base: waiting for {holder?.ToString() ?? "another process"}, which is pre-training it into {dir}"));
        if (IsCached(dir, recipe)) return UseCache(dir, log);   // the run we waited for has written it
        log?.Invoke($"embedded base: pre-training {Config.NumHiddenLayers} layers x {Config.HiddenSize} on a generated corpus ({recipe.Steps} steps), cached at {dir}");
        Pretrain(dir, recipe, log);
        return dir;
    }

    private static bool IsCached(string dir, Recipe recipe)
    {
        string recipeFile = Path.Combine(dir, "recipe.txt");
        return File.Exists(recipeFile) && File.ReadAllText(recipeFile) == recipe.Describe()
               && File.Exists(Path.Combine(dir, "model.safetensors")) && File.Exists(Path.Combine(dir, "config.json"));
    }

    private static string UseCache(string dir, Action<string>? log)
    {
        if (!File.Exists(Path.Combine(dir, CharTokenizer.FileName))) EmbeddedVocabulary.Tokenizer().Save(dir);
        log?.Invoke($"embedded base: cached at {dir}");
        return dir;
    }

    private static void Pretrain(string dir, Recipe recipe, Action<string>? log)
    {
        var rng = new Random(recipe.Seed);
        var pool = Enumerable.Range(0, recipe.Sequences).Select(_ => TokenSequence.Plain(SyntheticCorpus.Sequence(rng, recipe.SequenceLength))).ToList();
        TorchSharp.torch.random.manual_seed(recipe.Seed);
        using var model = PlainCausalLM.Create(Config);
        model.SetBaseTrainable(true);
        var source = new SequencePoolBatches(pool, recipe.BatchSize, EmbeddedVocabulary.Pad, recipe.Seed);
        var options = new TrainerOptions { Steps = recipe.Steps, LearningRate = recipe.LearningRate, WarmupSteps = recipe.Steps / 20, Schedule = ScheduleKind.Cosine, Seed = recipe.Seed };
        new TrainingRun(model, options, source, new TrainingRunOptions())
        {
            OnStep = r =>
            {
                if (r.Step == 1 || r.Step % 100 == 0 || r.Step == recipe.Steps)
                    log?.Invoke($"  pre-train step {r.Step,4}/{recipe.Steps}  loss {r.LmLoss:F3}");
            },
        }.Run();
        model.SetBaseTrainable(false);

        // Under the lock, so no other writer is active: folders left by killed pre-trainings are removed too.
        string parent = Path.GetDirectoryName(dir)!;
        if (Directory.Exists(parent))
            foreach (string left in Directory.EnumerateDirectories(parent, Path.GetFileName(dir) + ".tmp-*"))
                Directory.Delete(left, recursive: true);
        string temp = dir + ".tmp-" + Environment.ProcessId;
        Directory.CreateDirectory(temp);
        File.WriteAllText(Path.Combine(temp, "config.json"), Config.ToJson());
        SafeTensorsWriter.Save(Path.Combine(temp, "model.safetensors"),
            model.BaseParameters().Select(p => new KeyValuePair<string, TorchSharp.torch.Tensor>(p.Name, p.Parameter)));
        EmbeddedVocabulary.Tokenizer().Save(temp);
        File.WriteAllText(Path.Combine(temp, "recipe.txt"), recipe.Describe());
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(dir))!);
        Directory.Move(temp, dir);
    }
}
