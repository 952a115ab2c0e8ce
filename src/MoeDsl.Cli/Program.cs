using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.Evaluation;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Cli;

/// <summary>The <c>moedsl</c> command line.</summary>
public static class Program
{
    private static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, bool>> Verbs = new Dictionary<string, IReadOnlyDictionary<string, bool>>
    {
        ["generate"] = new Dictionary<string, bool>
        {
            ["model"] = true, ["adapter"] = true, ["prompt-ids"] = true, ["max-new-tokens"] = true, ["temperature"] = true,
            ["top-k"] = true, ["seed"] = true, ["format"] = true, ["stop-at-eos"] = false,
        },
    };

    /// <summary>Entry point: 0 on success, 1 on a bad input file, 2 on bad arguments.</summary>
    public static int Main(string[] args)
    {
        try
        {
            CommandLineArguments a = CommandLineArguments.Parse(args, Verbs);
            return a.Verb switch
            {
                "generate" => Generate(a),
                _ => throw new UsageException($"unknown command '{a.Verb}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"moedsl: {e.Message}");
            return 2;
        }
        catch (ModelFormatException e)
        {
            Console.Error.WriteLine($"moedsl: {e.Message}");
            return 1;
        }
    }

    private static int Generate(CommandLineArguments a)
    {
        string model = a.RequiredString("model");
        if (!Directory.Exists(model)) throw new UsageException($"--model '{model}' is not a folder; pass a Hugging Face checkpoint folder (config.json + model.safetensors)");
        long[] prompt = a.Ids("prompt-ids");
        var options = new GenerationOptions(
            MaxNewTokens: a.Int("max-new-tokens", 64, 1, 1_000_000),
            Temperature: a.Double("temperature", 0, 0, 100),
            TopK: a.Int("top-k", 0, 0),
            Seed: a.Int("seed", 0, 0),
            StopAtEos: a.Has("stop-at-eos"));
        string format = a.Choice("format", "ids", "ids", "json");
        if (a.String("adapter") is not null) throw new UsageException("--adapter needs --method (not available in this build); generate from the base with --model alone");

        using var lm = PlainCausalLM.FromPretrained(model);
        foreach (long id in prompt)
            if (id < 0 || id >= lm.Config.VocabSize) throw new UsageException($"--prompt-ids: token id {id} is outside the vocabulary [0, {lm.Config.VocabSize})");
        IReadOnlyList<long> ids = TextGenerator.Generate(lm, prompt, options);
        Console.WriteLine(format == "json" ? "[" + string.Join(",", ids) + "]" : string.Join(" ", ids));
        return 0;
    }
}
