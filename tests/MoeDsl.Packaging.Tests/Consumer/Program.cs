using System.Globalization;
using Consumer;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.Training;

// args: checkpoint folder, output folder. Prints one "key: value" line per result for the test to read.
string checkpoint = args[0], output = args[1];
// With the existing-libtorch switch the output holds no libtorch: load the one MOEDSL_LIBTORCH names (a no-op when unset).
MoeDsl.Runtime.Native.LibTorchLoader.LoadFromEnvironment();
TorchSharp.torch.random.manual_seed(1);
var greedy = new GenerationOptions(MaxNewTokens: 16);

using var model = Tiny.FromPretrained(checkpoint);
Console.WriteLine("before: " + string.Join(" ", TextGenerator.Generate(model, [1], greedy)));

// A few steps on two fixed token-id sequences (stories260K ships no tokenizer).
long[] a = [1, 461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299, 362, 409, 283];
long[] b = [1, 283, 264, 283, 452, 288, 13, 431, 293, 430, 417, 363, 416, 315, 342, 418];
var pool = Enumerable.Range(0, 8).Select(i => TokenSequence.Plain(i % 2 == 0 ? a : b)).ToList();
var options = new TrainerOptions { Steps = 4, LearningRate = 1e-2, Seed = 1 };
string adapter = Path.Combine(output, "adapter");
TrainingRunResult result = new TrainingRun(model, options, new SequencePoolBatches(pool, 4, 0, 1), new TrainingRunOptions { AdapterDirectory = adapter }).Run();
Console.WriteLine("losses: " + string.Join(" ", result.Steps.Select(s => s.LmLoss.ToString("R", CultureInfo.InvariantCulture))));
Console.WriteLine("adapter: " + result.AdapterDirectory);
string after = string.Join(" ", TextGenerator.Generate(model, [1], greedy));
Console.WriteLine("after: " + after);

// The saved adapter on a fresh copy of the base generates the same.
using var reloaded = Tiny.FromPretrained(checkpoint);
AdapterStore.Load(reloaded, adapter);
Console.WriteLine("reloaded: " + string.Join(" ", TextGenerator.Generate(reloaded, [1], greedy)));
return 0;
