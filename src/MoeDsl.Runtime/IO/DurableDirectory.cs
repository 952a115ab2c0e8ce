using System;
using System.IO;
using System.Runtime.InteropServices;

namespace MoeDsl.Runtime.IO;

/// <summary>The two folder operations .NET lacks for crash-safe replacement: flushing a folder's entries to disk (so a
/// rename survives a power loss, not only a kill) and swapping two folders in one atomic step (Linux
/// <c>renameat2(RENAME_EXCHANGE)</c>). Both are guarded by platform: where the system call does not exist or the file
/// system refuses it, <see cref="Sync"/> does nothing and <see cref="TryExchange"/> returns false, and the caller takes
/// its portable path.</summary>
internal static partial class DurableDirectory
{
    /// <summary>Test hook (environment variable): "1" makes <see cref="TryExchange"/> return false, so tests run the
    /// portable fallback on Linux too.</summary>
    public const string NoExchangeVariable = "MOEDSL_TEST_NO_RENAME_EXCHANGE";

    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;
    private const int Enoent = 2, Eintr = 4, Einval = 22, Enosys = 38, Eopnotsupp = 95;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameAt2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);

    private static bool IsUnix => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();

    /// <summary>Flushes the entries of folder <paramref name="path"/> (names created, renamed or removed in it) to disk:
    /// <c>open(O_RDONLY)</c> + <c>fsync</c> on Unix. Throws <see cref="IOException"/> when the flush itself fails; does
    /// nothing on Windows (NTFS journals its metadata) or where the file system does not flush folders (EINVAL).</summary>
    public static void Sync(string path)
    {
        if (!IsUnix) return;
        int fd;
        try
        {
            do fd = Open(path, 0);
            while (fd < 0 && Marshal.GetLastPInvokeError() == Eintr);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return; // no C library to call: the portable guarantee (a kill leaves a complete checkpoint) still holds
        }
        if (fd < 0)
        {
            int error = Marshal.GetLastPInvokeError();
            throw new IOException($"{path}: cannot open the folder to flush it to disk ({Marshal.GetPInvokeErrorMessage(error)})");
        }
        try
        {
            if (FSync(fd) != 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error != Einval && error != Eopnotsupp)
                    throw new IOException($"{path}: flushing the folder to disk failed ({Marshal.GetPInvokeErrorMessage(error)})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Atomically swaps the folders <paramref name="a"/> and <paramref name="b"/> (both must exist): at every
    /// instant each name holds one complete folder. Linux only; returns false where the kernel, C library or file system
    /// cannot (the caller then renames in two steps), throws <see cref="IOException"/> on any other failure.</summary>
    public static bool TryExchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(NoExchangeVariable) == "1") return false;
        int rc;
        try { rc = RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
        if (rc == 0) return true;
        int error = Marshal.GetLastPInvokeError();
        if (error is Einval or Enosys or Eopnotsupp) return false;
        throw new IOException($"swapping {a} and {b} failed ({Marshal.GetPInvokeErrorMessage(error)})"
                              + (error == Enoent ? "; one of them does not exist" : ""));
    }
}
