using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Threading;
using MoeDsl.Runtime.IO;
using MoeDsl.Samples.Embedded;
using Xunit;

namespace MoeDsl.Runtime.Tests.Reliability;

/// <summary>The embedded base's cache under concurrent first use: one pre-trains, the others wait and use its cache.</summary>
[Collection(nameof(SerialTests))]   // pre-training seeds torch's global generator
public sealed class EmbeddedBaseCacheTests
{
    private static readonly EmbeddedBase.Recipe Small = new(Steps: 3, BatchSize: 4, SequenceLength: 16, Sequences: 24);

    /// <summary>Two first uses race (threads released together; each opens the lock file itself, so they contend
    /// through the OS lock exactly as two processes do): exactly one pre-trains, the other waits for it and reports the
    /// cache, both get the same complete folder, and no temporary folder is left.</summary>
    [Fact]
    public void TwoFirstUsesPretrainOnceAndTheSecondUsesTheFirstsCache()
    {
        string root = Path.Combine(Path.GetTempPath(), "moedsl-embedded-cache-" + Guid.NewGuid().ToString("N"));
        string dir = Path.Combine(root, "embedded-base");
        try
        {
            var logs = new ConcurrentQueue<(int Who, string Line)>();
            var results = new string?[2];
            var errors = new ConcurrentQueue<Exception>();
            using var start = new Barrier(2);
            var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
            {
                try
                {
                    start.SignalAndWait();
                    results[i] = EmbeddedBase.Ensure(dir, Small, line => logs.Enqueue((i, line)));
                }
                catch (Exception e) { errors.Enqueue(e); }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Assert.Empty(errors);
            Assert.All(results, r => Assert.Equal(Path.GetFullPath(dir), r));
            var trained = logs.Where(l => l.Line.Contains("pre-training 4 layers", StringComparison.Ordinal)).Select(l => l.Who).ToList();
            int trainer = Assert.Single(trained);
            Assert.Contains(logs, l => l.Who == 1 - trainer && l.Line.StartsWith("embedded base: cached at", StringComparison.Ordinal));
            foreach (string f in new[] { "config.json", "model.safetensors", "recipe.txt" }) Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.Equal(Small.Describe(), File.ReadAllText(Path.Combine(dir, "recipe.txt")));
            Assert.Empty(Directory.EnumerateDirectories(root, "embedded-base.tmp-*"));
            Assert.Null(FolderLock.ReadHolder(EmbeddedBase.LockFileOf(dir)));

            // A held lock makes a first use wait (here: until the holder lets go), never pre-train beside it.
            string other = Path.Combine(root, "second");
            var blocker = FolderLock.Acquire(EmbeddedBase.LockFileOf(other));
            string? waited = null;
            var waitedLogs = new ConcurrentQueue<string>();
            var user = new Thread(() => waited = EmbeddedBase.Ensure(other, Small, waitedLogs.Enqueue));
            user.Start();
            Thread.Sleep(500);
            Assert.True(user.IsAlive);
            Assert.Contains(waitedLogs, l => l.Contains($"waiting for pid {Environment.ProcessId}", StringComparison.Ordinal));
            Assert.False(Directory.Exists(other));
            blocker.Dispose();
            user.Join();
            Assert.Equal(Path.GetFullPath(other), waited);
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    /// <summary>The per-user cache folder follows the XDG Base Directory rule: an absolute <c>$XDG_CACHE_HOME</c>, else
    /// <c>~/.cache</c> (a relative XDG value is ignored, as the specification says); <c>%LOCALAPPDATA%</c> on Windows.</summary>
    [Theory]
    [InlineData("/xdg/cache", "/home/u", "/xdg/cache/moedsl")]
    [InlineData(null, "/home/u", "/home/u/.cache/moedsl")]
    [InlineData("", "/home/u", "/home/u/.cache/moedsl")]
    [InlineData("relative/cache", "/home/u", "/home/u/.cache/moedsl")]
    public void TheUserCacheFolderFollowsXdg(string? xdg, string home, string expected)
    {
        var env = new System.Collections.Generic.Dictionary<string, string?> { ["XDG_CACHE_HOME"] = xdg, ["HOME"] = home, ["LOCALAPPDATA"] = @"C:\Users\u\AppData\Local" };
        Assert.Equal(expected, UserCache.RootFor(name => env.TryGetValue(name, out string? v) ? v : null, windows: false));
        Assert.Equal(Path.Combine(@"C:\Users\u\AppData\Local", "moedsl"), UserCache.RootFor(name => env.TryGetValue(name, out string? v) ? v : null, windows: true));
    }

    /// <summary>Without the override the base is cached in the user's cache, one folder per recipe (a changed recipe
    /// never replaces another version's base); the override names the folder itself.</summary>
    [Fact]
    public void TheDefaultCacheIsPerUserAndPerRecipeUnlessOverridden()
    {
        string? saved = Environment.GetEnvironmentVariable(EmbeddedBase.CacheVariable);
        try
        {
            Environment.SetEnvironmentVariable(EmbeddedBase.CacheVariable, null);
            string expected = Path.Combine(UserCache.Root, "embedded-base", new EmbeddedBase.Recipe().Key);
            Assert.Equal(expected, EmbeddedBase.DefaultCacheDirectory);
            Assert.Matches("^v1-[0-9a-f]{12}$", new EmbeddedBase.Recipe().Key);
            Assert.NotEqual(new EmbeddedBase.Recipe().Key, Small.Key);
            Assert.Equal(Path.Combine(UserCache.Root, "embedded-base", Small.Key), EmbeddedBase.CacheDirectoryFor(Small));
            Environment.SetEnvironmentVariable(EmbeddedBase.CacheVariable, "/tmp/chosen-cache");
            Assert.Equal("/tmp/chosen-cache", EmbeddedBase.DefaultCacheDirectory);
        }
        finally { Environment.SetEnvironmentVariable(EmbeddedBase.CacheVariable, saved); }
    }
}
