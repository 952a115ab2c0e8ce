#nullable enable
// Shared by the MSBuild inline task (MoeDsl.Runtime.targets beside this file, also packed as buildTransitive) and the tests.
// Marks one version-needed entry (ELF .gnu.version_r, Vernaux) of a 64-bit little-endian ELF as weak
// (VER_FLG_WEAK), so the dynamic loader accepts a host library that lacks that version.
// TorchSharp 0.107's libLibTorchSharp.so needs GLIBCXX_3.4.32 for one symbol it references but never
// calls (_ZSt21ios_base_library_initv); Debian 12's libstdc++ stops at GLIBCXX_3.4.30.
namespace MoeDsl.Build
{
    using System;
    using System.IO;
    using System.Text;

    public enum ElfPatchResult { Patched, AlreadyWeak, VersionNotReferenced }

    public static class ElfWeakVersion
    {
        public const ushort VerFlagWeak = 0x2;
        private const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>True when the shared library at <paramref name="libraryPath"/> defines <paramref name="version"/>.</summary>
        public static bool LibraryDefinesVersion(string libraryPath, string version)
        {
            byte[] bytes = File.ReadAllBytes(libraryPath);
            byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
            for (int i = 0; i + needle.Length <= bytes.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && bytes[i + j] == needle[j]) j++;
                if (j == needle.Length && (i == 0 || bytes[i - 1] == 0)) return true;
            }
            return false;
        }

        /// <summary>Sets VER_FLG_WEAK on every Vernaux entry named <paramref name="version"/>.</summary>
        public static ElfPatchResult MarkWeak(string path, string version)
        {
            byte[] elf = File.ReadAllBytes(path);
            ElfPatchResult result = MarkWeak(elf, version, path);
            if (result == ElfPatchResult.Patched)
            {
                string temp = path + ".weak-tmp";
                File.WriteAllBytes(temp, elf);
                File.Copy(temp, path, overwrite: true);
                File.Delete(temp);
            }
            return result;
        }

        public static ElfPatchResult MarkWeak(byte[] elf, string version, string nameForErrors)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException($"{nameForErrors}: not an ELF file.");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException($"{nameForErrors}: only 64-bit little-endian ELF is supported (class {elf[4]}, data {elf[5]}).");

            ulong shoff = U64(elf, 0x28, nameForErrors);
            ushort shentsize = U16(elf, 0x3A, nameForErrors);
            ushort shnum = U16(elf, 0x3C, nameForErrors);
            if (shentsize < 64) throw new InvalidDataException($"{nameForErrors}: section header size {shentsize} is too small.");

            bool found = false, changed = false;
            for (int s = 0; s < shnum; s++)
            {
                long sh = checked((long)shoff + (long)s * shentsize);
                if (U32(elf, sh + 4, nameForErrors) != ShtGnuVerneed) continue;
                long secOffset = (long)U64(elf, sh + 0x18, nameForErrors);
                uint link = U32(elf, sh + 0x28, nameForErrors);
                long strSh = checked((long)shoff + (long)link * shentsize);
                long strOffset = (long)U64(elf, strSh + 0x18, nameForErrors);

                long verneed = secOffset;
                while (true)
                {
                    ushort cnt = U16(elf, verneed + 2, nameForErrors);
                    uint aux = U32(elf, verneed + 8, nameForErrors);
                    uint next = U32(elf, verneed + 12, nameForErrors);
                    long vernaux = verneed + aux;
                    for (int a = 0; a < cnt; a++)
                    {
                        ushort flags = U16(elf, vernaux + 4, nameForErrors);
                        uint name = U32(elf, vernaux + 8, nameForErrors);
                        if (ReadCString(elf, strOffset + name, nameForErrors) == version)
                        {
                            found = true;
                            if ((flags & VerFlagWeak) == 0)
                            {
                                ushort patched = (ushort)(flags | VerFlagWeak);
                                elf[vernaux + 4] = (byte)(patched & 0xff);
                                elf[vernaux + 5] = (byte)(patched >> 8);
                                changed = true;
                            }
                        }
                        uint nextAux = U32(elf, vernaux + 12, nameForErrors);
                        if (nextAux == 0) break;
                        vernaux += nextAux;
                    }
                    if (next == 0) break;
                    verneed += next;
                }
            }
            if (!found) return ElfPatchResult.VersionNotReferenced;
            return changed ? ElfPatchResult.Patched : ElfPatchResult.AlreadyWeak;
        }

        private static void Check(byte[] b, long at, int size, string name)
        {
            if (at < 0 || at + size > b.Length) throw new InvalidDataException($"{name}: ELF structure points outside the file (offset {at}).");
        }
        private static ushort U16(byte[] b, long at, string n) { Check(b, at, 2, n); return (ushort)(b[at] | b[at + 1] << 8); }
        private static uint U32(byte[] b, long at, string n) { Check(b, at, 4, n); return (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24); }
        private static ulong U64(byte[] b, long at, string n) { Check(b, at, 8, n); return U32(b, at, n) | (ulong)U32(b, at + 4, n) << 32; }
        private static string ReadCString(byte[] b, long at, string n)
        {
            Check(b, at, 1, n);
            long end = at;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)at, (int)(end - at));
        }
    }

#if !MOEDSL_ELF_NO_TASK
    /// <summary>MSBuild task: weak-marks a version need in the copies of a native library in the build output,
    /// only when the host's library lacks that version.</summary>
    public sealed class PatchWeakVersionNeed : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required] public string[] Files { get; set; } = Array.Empty<string>();
        [Microsoft.Build.Framework.Required] public string Version { get; set; } = "";
        [Microsoft.Build.Framework.Required] public string HostLibraryCandidates { get; set; } = "";
        public bool Force { get; set; }

        public override bool Execute()
        {
            if (Force) return PatchAll("(forced)");
            string? host = null;
            foreach (string candidate in HostLibraryCandidates.Split(';'))
                if (candidate.Length > 0 && File.Exists(candidate)) { host = candidate; break; }
            if (host == null)
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "MoeDsl: no host libstdc++ found among {0}; leaving TorchSharp's native library as shipped.", HostLibraryCandidates);
                return true;
            }
            if (ElfWeakVersion.LibraryDefinesVersion(host, Version))
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "MoeDsl: {0} defines {1}; no native patch needed.", host, Version);
                return true;
            }
            return PatchAll(host);
        }

        private bool PatchAll(string host)
        {
            foreach (string file in Files)
            {
                if (!File.Exists(file)) continue;
                ElfPatchResult r = ElfWeakVersion.MarkWeak(file, Version);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High, "MoeDsl TorchSharp native fix: host {0} lacks {1}; {2}: {3}.", host, Version, file, r);
            }
            return true;
        }
    }
#endif
}
