using System;
using Spectre.Console;

namespace MoeDsl.Cli;

/// <summary>Progress of a long loop: a Spectre.Console progress bar (description, bar, percentage, ETA) when stdout is a
/// terminal, plain lines otherwise (logs, CI, tests), about 20 per run plus the first and the last.</summary>
public static class ProgressView
{
    /// <summary>Whether progress is drawn as a live bar.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="body"/>, which reports (done, description) through the callback it is given.</summary>
    public static T Run<T>(string title, int total, int alreadyDone, Func<Action<int, string>, T> body)
    {
        if (!Interactive)
        {
            int every = Math.Max(1, total / 20);
            return body((done, text) =>
            {
                if (done == alreadyDone + 1 || done % every == 0 || done == total) Console.WriteLine($"{title} {done}/{total}  {text}");
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                ProgressTask task = ctx.AddTask(Markup.Escape(title), maxValue: total);
                task.Value = alreadyDone;
                result = body((done, text) =>
                {
                    task.Value = done;
                    task.Description = Markup.Escape($"{title} {done}/{total}  {text}");
                });
            });
        return result;
    }
}
