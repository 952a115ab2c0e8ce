using System;
using System.Globalization;
using MoeDsl.Checkpoints;
using MoeDsl.Runtime.IO;
using static TorchSharp.torch;

// moedsl-checkpoints: dotnet run -c Release --project tools/MoeDsl.Checkpoints -- --shape qwen2 --out DIR [--seed 1] [--dtype f32|bf16|f16] [--shards N]
string? shape = null, output = null;
ulong seed = 1;
ScalarType dtype = ScalarType.Float32;
int shards = 1;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--shape": shape = Value(); break;
            case "--out": output = Value(); break;
            case "--seed": seed = ulong.Parse(Value(), NumberStyles.None, CultureInfo.InvariantCulture); break;
            case "--shards": shards = int.Parse(Value(), NumberStyles.None, CultureInfo.InvariantCulture); break;
            case "--dtype":
                string d = Value();
                dtype = d switch
                {
                    "f32" => ScalarType.Float32,
                    "bf16" => ScalarType.BFloat16,
                    "f16" => ScalarType.Float16,
                    _ => throw new ArgumentException($"--dtype '{d}' is not one of f32, bf16, f16"),
                };
                break;
            case "-h" or "--help":
                Console.WriteLine("usage: MoeDsl.Checkpoints --shape (llama|mistral|qwen2|qwen3|gemma|gemma2|phi3|qwen2.5-0.5b|llama-3.2-1b|llama-110m) --out DIR [--seed N] [--dtype f32|bf16|f16] [--shards N]");
                return 0;
            default:
                Console.Error.WriteLine($"unknown option '{args[i]}'; known: --shape, --out, --seed, --dtype, --shards, --help");
                return 2;
        }
    }
    catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
    {
        Console.Error.WriteLine($"{args[i]}: {e.Message}");
        return 2;
    }
}
if (shape is null || output is null)
{
    Console.Error.WriteLine("--shape and --out are required; see --help");
    return 2;
}
try
{
    LlamaConfig config = FamilyShapes.Named(shape);
    CheckpointWriter.Write(config, output, seed, dtype, shards);
    Console.WriteLine($"wrote {shape} ({config.Family.ModelType}, {dtype}) to {output}");
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
