using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.IO;

public sealed class SafeTensorsWriterTests
{
    /// <summary>Random bit patterns (NaN payloads, infinities, subnormals included) survive writer -> reader unchanged.</summary>
    [Theory]
    [InlineData(ScalarType.Float32, 4)]
    [InlineData(ScalarType.Float16, 2)]
    [InlineData(ScalarType.BFloat16, 2)]
    public void Round_trip_is_bit_identical(ScalarType dtype, int size)
    {
        var rng = new Random(1234 + size);
        var raw = new byte[3 * 5 * 7 * size];
        rng.NextBytes(raw);
        using var dir = new TempFolder();
        string path = dir.File("x.safetensors");
        using (Tensor t = torch.empty(new long[] { 3, 5, 7 }, dtype))
        using (Tensor scalar = torch.empty(Array.Empty<long>(), dtype))
        using (Tensor empty = torch.empty(new long[] { 0, 4 }, dtype))
        {
            t.bytes = raw;
            scalar.bytes = raw.AsSpan(0, size).ToArray();
            SafeTensorsWriter.Save(path, new[] { KeyValuePair.Create("w", t), KeyValuePair.Create("s", scalar), KeyValuePair.Create("e", empty) },
                new Dictionary<string, string> { ["format"] = "pt" });
        }

        byte[] file = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, (8 + headerLength) % 8);                     // data section 8-byte aligned
        Assert.Equal(raw, file.AsSpan(8 + (int)headerLength, raw.Length).ToArray()); // first tensor's bytes verbatim

        using var f = SafeTensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(new[] { "w", "s", "e" }, f.Entries.Select(e => e.Name));
        using Tensor w = f.Read("w");
        Assert.Equal(dtype, w.dtype);
        Assert.Equal(new long[] { 3, 5, 7 }, w.shape);
        Assert.Equal(raw, w.bytes.ToArray());
        using Tensor s = f.Read("s");
        Assert.Empty(s.shape);
        Assert.Equal(raw.AsSpan(0, size).ToArray(), s.bytes.ToArray());
        using Tensor e = f.Read("e");
        Assert.Equal(new long[] { 0, 4 }, e.shape);
    }

    [Fact]
    public void Temporary_file_is_in_the_same_folder()
    {
        using var dir = new TempFolder();
        string target = dir.File("adapter_model.safetensors");
        string temp = SafeTensorsWriter.TemporaryPathFor(target);
        Assert.Equal(Path.GetFullPath(dir.Path), Path.GetDirectoryName(temp));
        Assert.NotEqual(target, temp);
    }

    [Fact]
    public void Save_leaves_only_the_target_and_replaces_it_whole()
    {
        using var dir = new TempFolder();
        string target = dir.File("adapter_model.safetensors");
        File.WriteAllText(target, "old contents");
        using (Tensor t = torch.arange(6, ScalarType.Float32))
            SafeTensorsWriter.Save(target, new[] { KeyValuePair.Create("t", t) });
        Assert.Equal(new[] { target }, Directory.GetFiles(dir.Path));
        using var f = SafeTensorsFile.Open(target);
        using Tensor back = f.Read("t");
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, back.data<float>().ToArray());
    }

    [Fact]
    public void A_failed_save_removes_its_temporary_file()
    {
        using var dir = new TempFolder();
        string target = dir.File("blocked.safetensors");
        Directory.CreateDirectory(target); // the rename onto a folder fails after the temporary file was written
        using (Tensor t = torch.ones(4))
            Assert.ThrowsAny<IOException>(() => SafeTensorsWriter.Save(target, new[] { KeyValuePair.Create("t", t) }));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
