using System;
using System.IO;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Tests.IO;
using MoeDsl.Runtime.Training;
using Xunit;

namespace MoeDsl.Runtime.Tests.Reliability;

/// <summary>The pieces of a checkpoint replacement that never removes the last complete checkpoint: the atomic folder
/// swap, the folder flush, and the recovery of a checkpoint renamed aside by the portable fallback (the kills themselves
/// are in MoeDsl.Cli.Tests, CheckpointReliabilityCliTests).</summary>
public sealed class CheckpointReplacementTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private string Root => TrainingCheckpoint.Root(folder.Path);

    private string Folder(string name, string content)
    {
        string dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, TrainingCheckpoint.StateFile), content);
        return dir;
    }

    private static string Content(string dir) => File.ReadAllText(Path.Combine(dir, TrainingCheckpoint.StateFile));

    [Fact]
    public void A_checkpoint_left_aside_by_an_unfinished_replacement_counts_as_its_step_and_is_renamed_back()
    {
        Folder("checkpoint-00000002", "two");
        string aside = Folder(".checkpoint-00000004.old-123", "four (old)");
        Folder(".checkpoint-00000004.tmp-123", "four (new, never published)");
        Folder(".checkpoint-00000001.del-123", "one (being deleted)");

        Assert.Equal(aside, TrainingCheckpoint.Latest(folder.Path));
        Assert.Equal(2, TrainingCheckpoint.RemoveIncomplete(folder.Path));
        string latest = TrainingCheckpoint.Latest(folder.Path)!;
        Assert.Equal(Path.Combine(Root, "checkpoint-00000004"), latest);
        Assert.Equal("four (old)", Content(latest));
        Assert.Empty(Directory.GetDirectories(Root, ".*"));
    }

    [Fact]
    public void An_aside_copy_of_a_step_that_is_in_place_is_only_deleted()
    {
        string final = Folder("checkpoint-00000004", "four (new)");
        Folder(".checkpoint-00000004.old-7", "four (old)");
        Assert.Equal(final, TrainingCheckpoint.Latest(folder.Path));
        Assert.Equal(1, TrainingCheckpoint.RemoveIncomplete(folder.Path));
        Assert.Equal("four (new)", Content(final));
        Assert.Empty(Directory.GetDirectories(Root, ".*"));
    }

    [SkippableFact]
    public void Exchange_swaps_two_folders_in_one_step_on_Linux()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "renameat2(RENAME_EXCHANGE) is Linux-only; elsewhere the fallback runs");
        string a = Folder("a", "A"), b = Folder("b", "B");
        Assert.True(DurableDirectory.TryExchange(a, b), "the temp folder's file system refused RENAME_EXCHANGE");
        Assert.Equal("B", Content(a));
        Assert.Equal("A", Content(b));
        Assert.Throws<IOException>(() => DurableDirectory.TryExchange(a, Path.Combine(Root, "missing")));
    }

    [SkippableFact]
    public void Sync_flushes_a_folder_and_names_one_it_cannot_open()
    {
        Skip.If(OperatingSystem.IsWindows(), "folders are not flushed on Windows");
        DurableDirectory.Sync(folder.Path);
        string missing = Path.Combine(folder.Path, "missing");
        var e = Assert.Throws<IOException>(() => DurableDirectory.Sync(missing));
        Assert.Contains(missing, e.Message);
    }
}
