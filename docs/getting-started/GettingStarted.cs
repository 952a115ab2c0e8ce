using System;
using System.IO;
using MoeDsl;
using MoeDsl.Runtime.Api;

namespace MyProject;

// The architecture, checked at compile time. [BaseModel] is the shape of the checkpoint you fine-tune (its
// config.json); this one is the 4-layer test base the repository runs this file on.
[MoeModel]
[BaseModel(Layers = 4, Hidden = 32, Intermediate = 64, Heads = 2, KvHeads = 1, Vocab = 64)]
[ExpertsPerLayer(4)]
[Router(RouterKind.TopK, TopK = 2)]
[Lora(Rank = 4, Alpha = 8, Dropout = 0.0)]
[LoadBalance(0.01)]
public partial class MyMixLora { }

/// <summary>Load a base, fine-tune, save the adapter, generate.</summary>
public static class GettingStarted
{
    /// <summary>Fine-tunes <see cref="MyMixLora"/> on a JSONL file and returns the model's continuation of a prompt.</summary>
    public static string Run(string baseDirectory, string trainFile, string outputDirectory)
    {
        using var model = MyMixLora.FromPretrained(baseDirectory);                // frozen base + fresh adapters
        var data = TrainingData.FromJsonl(trainFile, "prompt-completion");       // or "text", "arc", "boolq", ...

        model.FineTune(data, new MyMixLora.TrainingOptions
        {
            Steps = 40,
            BatchSize = 8,
            LearningRate = 5e-3,
            LoadBalance = 0.02,                                  // only declarations with [LoadBalance] have it
            OutputDirectory = outputDirectory,                   // metrics.jsonl, checkpoints/, adapter/
            SaveEvery = 20,                                      // Resume = true continues from the last one
            OnStep = step => Console.WriteLine($"step {step.Step}: loss {step.LmLoss:F3}"),
        });

        model.SaveAdapter(Path.Combine(outputDirectory, "my-adapter"));
        return model.Generate("2+3=");
    }
}
