using System;
using System.Collections.Generic;
using System.Linq;
using MoeDsl.Runtime.Training;
using MoeDsl.Runtime.Losses;

namespace MoeDsl.Samples.Embedded;

/// <summary>One example of an embedded task: a prompt and the exact answer that must follow it.</summary>
public sealed record TaskExample(string Task, string Prompt, string Answer);

/// <summary>The embedded multi-task benchmark: tasks that need different skills, generated from seeds, with a held-out
/// split whose items never occur in training (split by a hash of the prompt).</summary>
public static class SyntheticTasks
{
    /// <summary>The tasks, each a different skill: copy two words the base has seen (recall), name the first letter of
    /// a random string (extraction), add two digits (arithmetic the corpus states in another form), and pick the
    /// larger of two digits as a multiple-choice letter (comparison; chance = 50%).</summary>
    public static readonly string[] Names = { "copy", "first", "add", "larger" };

    /// <summary>The main job's task mix, built for multi-task interference: every prompt has ONE format,
    /// <c>op: s =&gt;</c> with s a random string of 3-5 letters, and only the operation word says which skill answers
    /// it: its first letter, its last letter, the letter after its first letter in the alphabet (z wraps to a), the
    /// string repeated, or its length (3-5, chance 33%). One adapter must map the same kind of input to five different
    /// outputs; a router can send each operation to its own experts (where the papers say experts help). With
    /// 26^3 + 26^4 + 26^5 prompts per operation, held-out splits can be as large as needed.</summary>
    public static readonly string[] SharedFormat = { "first", "last", "next", "echo", "length" };

    /// <summary>Every task <see cref="Example"/> knows; the index fixes a task's split seed (the first four keep theirs).</summary>
    private static readonly string[] AllTasks = { "copy", "first", "add", "larger", "last", "next", "echo", "length" };

    /// <summary>Training examples per task in the comparison and in <c>--data embedded</c>.</summary>
    public const int TrainPerTask = 600;
    /// <summary>Held-out examples per task in the comparison and in <c>--eval-data embedded</c>.</summary>
    public const int TestPerTask = 100;

    /// <summary>The generator seed of a task's split, fixed so every program sees the same examples.</summary>
    public static int SplitSeed(string task, bool heldOut)
    {
        int index = Array.IndexOf(AllTasks, task);
        if (index < 0) throw new ArgumentException($"unknown embedded task '{task}'; known: {string.Join(", ", AllTasks)}");
        return 1000 * (index + 1) + (heldOut ? 1 : 0);
    }

    /// <summary>An example of <paramref name="task"/>.</summary>
    public static TaskExample Example(string task, Random rng)
    {
        switch (task)
        {
            case "copy":
            {
                string w = $"{SyntheticCorpus.Adjectives[rng.Next(SyntheticCorpus.Adjectives.Length)]} {SyntheticCorpus.Nouns[rng.Next(SyntheticCorpus.Nouns.Length)]}";
                return new TaskExample(task, $"copy: {w} =>", " " + w);
            }
            case "first":
            {
                string w = Word(rng);
                return new TaskExample(task, $"first: {w} =>", " " + w[0]);
            }
            case "add":
            {
                int a = rng.Next(10), b = rng.Next(10);
                return new TaskExample(task, $"add: {a}+{b} =>", $" {a + b}");
            }
            case "larger":
                return Larger(rng);
            case "last" or "next" or "echo" or "length":
            {
                string w = Word(rng);
                string answer = task switch
                {
                    "last" => w[^1].ToString(),
                    "next" => ((char)('a' + (w[0] - 'a' + 1) % 26)).ToString(),
                    "echo" => w,
                    _ => w.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                return new TaskExample(task, $"{task}: {w} =>", " " + answer);
            }
            default:
                throw new ArgumentException($"unknown embedded task '{task}'; known: {string.Join(", ", AllTasks)}");
        }
    }

    private static TaskExample Larger(Random rng)
    {
        int x = rng.Next(10), y;
        do y = rng.Next(10); while (y == x);
        return new TaskExample("larger", $"which is larger? A) {x} B) {y} Answer:", x > y ? " A" : " B");
    }

    private static string Word(Random rng)
    {
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        int n = 3 + rng.Next(3);
        return new string(Enumerable.Range(0, n).Select(_ => letters[rng.Next(letters.Length)]).ToArray());
    }

    /// <summary>True when an example belongs to the held-out split (about 1 in 5 prompts, chosen by a stable hash).</summary>
    public static bool IsHeldOut(TaskExample e)
    {
        uint h = 2166136261;
        foreach (char c in e.Prompt) h = (h ^ c) * 16777619;
        return h % 5 == 0;
    }

    /// <summary><paramref name="count"/> distinct examples of a task from one split.</summary>
    public static List<TaskExample> Split(string task, bool heldOut, int count, int seed)
    {
        var rng = new Random(seed);
        var seen = new HashSet<string>();
        var result = new List<TaskExample>(count);
        for (int attempts = 0; result.Count < count && attempts < count * 200; attempts++)
        {
            TaskExample e = Example(task, rng);
            if (IsHeldOut(e) == heldOut && seen.Add(e.Prompt)) result.Add(e);
        }
        return result;
    }

    /// <summary>BOS + prompt + answer + EOS; the prompt's labels are -100 when <paramref name="maskPrompt"/>.</summary>
    public static TokenSequence Encode(TaskExample e, bool maskPrompt)
    {
        long[] prompt = EmbeddedVocabulary.Encode(e.Prompt);
        long[] answer = EmbeddedVocabulary.Encode(e.Answer);
        var ids = new long[1 + prompt.Length + answer.Length + 1];
        ids[0] = EmbeddedVocabulary.Bos;
        prompt.CopyTo(ids, 1);
        answer.CopyTo(ids, 1 + prompt.Length);
        ids[^1] = EmbeddedVocabulary.Eos;
        var labels = (long[])ids.Clone();
        if (maskPrompt)
            for (int i = 0; i <= prompt.Length; i++) labels[i] = LanguageModelLoss.IgnoreIndex;
        return new TokenSequence(ids, labels);
    }
}
