using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;

namespace MoeDsl.Runtime.IO;

/// <summary>Who holds a <see cref="FolderLock"/>: enough to find the process.</summary>
/// <param name="ProcessId">The holder's process id.</param>
/// <param name="Host">The machine it runs on.</param>
/// <param name="Since">When it took the lock (UTC).</param>
/// <param name="Command">Its command line (shortened).</param>
public sealed record LockHolder(int ProcessId, string Host, DateTimeOffset Since, string Command)
{
    /// <summary>One line: pid, host, start time and command.</summary>
    public override string ToString()
        => $"pid {ProcessId} on {Host} since {Since.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC ({Command})";
}

/// <summary>Thrown when another process (or another <see cref="FolderLock"/> in this one) holds a lock.</summary>
public sealed class FolderLockedException : IOException
{
    /// <summary>The error for <paramref name="lockFile"/>, naming <paramref name="holder"/> when it could be read.</summary>
    public FolderLockedException(string lockFile, LockHolder? holder)
        : base($"{Path.GetDirectoryName(lockFile)} is in use by another run: " + (holder?.ToString() ?? "a process whose details could not be read") +
               $" holds {Path.GetFileName(lockFile)}; a second writer is refused: wait for that run to end, or use another folder")
    {
        LockFile = lockFile;
        Holder = holder;
    }

    /// <summary>The lock file.</summary>
    public string LockFile { get; }

    /// <summary>The holder as it recorded itself, or null when that record could not be read.</summary>
    public LockHolder? Holder { get; }
}

/// <summary>An exclusive hold on a folder shared by processes: the lock file is opened with <see cref="FileShare.None"/>,
/// which is an OS lock (<c>flock</c> on Linux and macOS, a sharing mode on Windows) that the OS releases when the process
/// ends however it ends, so a lock file left behind by a killed process never blocks the next one. The holder's pid, host,
/// start time and command line are written to a sidecar file (<c>LOCK.holder</c>; the lock file itself cannot be read by
/// others while it is held), so a refused process can name it. Two holds on one file conflict also inside one process.
/// The lock file is never deleted (deleting it could let two processes lock two different files of the same name).
/// Where the file system offers no locks (some network mounts), .NET opens the file without one and the folder is not
/// guarded.</summary>
public sealed class FolderLock : IDisposable
{
    /// <summary>The lock file of a folder lock taken with <see cref="PathIn"/>.</summary>
    public const string FileName = ".moedsl.lock";
    /// <summary>Suffix of the sidecar file naming the holder.</summary>
    public const string HolderSuffix = ".holder";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    private FileStream? stream;

    private FolderLock(string lockFile, FileStream stream, LockHolder holder)
    {
        LockFile = lockFile;
        this.stream = stream;
        Holder = holder;
    }

    /// <summary>The lock file (full path).</summary>
    public string LockFile { get; }

    /// <summary>This process's record in the lock.</summary>
    public LockHolder Holder { get; }

    /// <summary>Whether the lock is still held (not disposed).</summary>
    public bool IsHeld => stream is not null;

    /// <summary>The lock file guarding <paramref name="folder"/> from inside it (<c>FOLDER/.moedsl.lock</c>).</summary>
    public static string PathIn(string folder) => Path.Combine(Path.GetFullPath(folder), FileName);

    /// <summary>Takes the lock at once or throws <see cref="FolderLockedException"/> naming the holder. The lock file's
    /// folder is created when missing.</summary>
    public static FolderLock Acquire(string lockFile)
        => TryAcquire(lockFile, out LockHolder? holder) ?? throw new FolderLockedException(Path.GetFullPath(lockFile), holder);

    /// <summary>Takes the lock, waiting while another process holds it (polling), up to <paramref name="timeout"/>
    /// (<see cref="Timeout.InfiniteTimeSpan"/>: no limit; the OS frees the lock of a process that dies, so only a live,
    /// stuck holder can keep a waiter). <paramref name="waiting"/> is told once, with the holder, when the lock is busy.</summary>
    public static FolderLock Wait(string lockFile, TimeSpan timeout, Action<LockHolder?>? waiting = null)
    {
        var watch = Stopwatch.StartNew();
        bool told = false;
        while (true)
        {
            FolderLock? taken = TryAcquire(lockFile, out LockHolder? holder);
            if (taken is not null) return taken;
            if (!told)
            {
                waiting?.Invoke(holder);
                told = true;
            }
            if (timeout != Timeout.InfiniteTimeSpan && watch.Elapsed >= timeout) throw new FolderLockedException(Path.GetFullPath(lockFile), holder);
            Thread.Sleep(100);
        }
    }

    /// <summary>Takes the lock at once, or returns null with the holder (null when its record could not be read).</summary>
    public static FolderLock? TryAcquire(string lockFile, out LockHolder? holder)
    {
        string full = Path.GetFullPath(lockFile);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        FileStream fs;
        try
        {
            fs = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e.GetType() == typeof(IOException) && File.Exists(full))
        {
            // A plain IOException on an existing file is the sharing violation (EWOULDBLOCK from flock on Unix);
            // missing folders, bad names and permissions raise the derived types or UnauthorizedAccessException.
            holder = ReadHolder(full);
            return null;
        }
        var me = new LockHolder(Environment.ProcessId, Environment.MachineName, DateTimeOffset.UtcNow, CommandLine());
        try
        {
            byte[] record = JsonSerializer.SerializeToUtf8Bytes(me, Json);
            fs.SetLength(0);
            fs.Write(record);
            fs.Flush();
            string sidecar = full + HolderSuffix;
            string temp = sidecar + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            File.WriteAllBytes(temp, record);
            File.Move(temp, sidecar, overwrite: true);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
        holder = me;
        return new FolderLock(full, fs, me);
    }

    /// <summary>The holder recorded beside <paramref name="lockFile"/> (the last one, which may have ended), or null.</summary>
    public static LockHolder? ReadHolder(string lockFile)
    {
        try { return JsonSerializer.Deserialize<LockHolder>(File.ReadAllBytes(Path.GetFullPath(lockFile) + HolderSuffix), Json); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;   // no record yet, or one being replaced: the refusal then says the details could not be read
        }
    }

    private static string CommandLine()
    {
        string line = string.Join(" ", Environment.GetCommandLineArgs().Select(a => a.Contains(' ', StringComparison.Ordinal) ? "'" + a + "'" : a));
        return line.Length <= 300 ? line : line[..297] + "...";
    }

    /// <summary>Releases the lock: the sidecar is removed while still held, the lock file emptied and closed.</summary>
    public void Dispose()
    {
        FileStream? fs = Interlocked.Exchange(ref stream, null);
        if (fs is null) return;
        try
        {
            File.Delete(LockFile + HolderSuffix);
            fs.SetLength(0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stale record is harmless (the next holder overwrites it, and the OS lock is what counts).
        }
        finally
        {
            fs.Dispose();
        }
    }
}
