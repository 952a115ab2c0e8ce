using MoeDsl.Runtime.IO;
using Xunit;
using static MoeDsl.Runtime.Tests.IO.SafeTensorsBytes;

namespace MoeDsl.Runtime.Tests.IO;

/// <summary><see cref="SafeTensorsFile.Map"/>: a tensor viewed in the file mapped copy-on-write holds the file's values,
/// writing to it never changes the file, and an entry whose offset is not a multiple of its element size is not mapped.</summary>
public sealed class SafeTensorsMappingTests
{
    private const string Header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}";

    // The header padded with spaces (valid JSON) so that the data section starts at 8 + length = residue (mod 4).
    private static byte[] File(int residue)
    {
        string header = Header;
        while ((8 + header.Length) % 4 != residue) header += " ";
        return Make(header, F32(1, 2, 3, 4, 5, 6));
    }

    [Fact]
    public void Mapped_tensor_holds_the_files_values_and_writes_stay_in_the_process()
    {
        Assert.True(SafeTensorsFile.MappingEnabled, "MOEDSL_MMAP=0 is set for the test run");
        using var dir = new TempFolder();
        byte[] bytes = File(0);
        string path = dir.Write("model.safetensors", bytes);
        using (var f = SafeTensorsFile.Open(path))
        {
            using var b = f.Map("b");
            Assert.NotNull(b);
            Assert.Equal(new long[] { 2, 2 }, b!.shape);
            Assert.Equal(new float[] { 3, 4, 5, 6 }, b.data<float>().ToArray());
            using var read = f.Read("b");
            Assert.True(read.eq(b).all().item<bool>());
            b.fill_(-1f);
            Assert.Equal(-1f, b.data<float>()[0]);
            using var a = f.Map("a");
            Assert.Equal(new float[] { 1, 2 }, a!.data<float>().ToArray()); // its neighbour in the same mapping is untouched
        }
        Assert.Equal(bytes, System.IO.File.ReadAllBytes(path));
    }

    [Fact]
    public void View_outlives_the_file_object()
    {
        using var dir = new TempFolder();
        string path = dir.Write("model.safetensors", File(0));
        TorchSharp.torch.Tensor b;
        using (var f = SafeTensorsFile.Open(path)) b = f.Map("b")!;
        using (b) Assert.Equal(new float[] { 3, 4, 5, 6 }, b.data<float>().ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Entry_off_its_element_alignment_is_not_mapped(int residue)
    {
        using var dir = new TempFolder();
        using var f = SafeTensorsFile.Open(dir.Write("model.safetensors", File(residue)));
        Assert.Null(f.Map("a"));
        using var a = f.Read("a"); // the reading path still serves it
        Assert.Equal(new float[] { 1, 2 }, a.data<float>().ToArray());
    }
}

/// <summary><c>SafeTensorsFile.Read(name, dtype)</c> and <c>ReadInto</c> a tensor of another dtype: converting through
/// the bounded buffer gives exactly what converting the whole tensor gives, across chunk boundaries, for 2-D, 1-D and 0-D tensors.</summary>
public sealed class SafeTensorsConversionTests
{
    [Fact]
    public void Chunked_conversion_equals_whole_conversion()
    {
        using var dir = new TempFolder();
        string path = System.IO.Path.Combine(dir.Path, "model.safetensors");
        TorchSharp.torch.manual_seed(3);
        long rowFloats = 8192, rows = SafeTensorsFile.ConversionChunkBytes / (rowFloats * 4) + 77; // two pieces, the last partial
        using var big = TorchSharp.torch.randn(rows, rowFloats);
        using var line = TorchSharp.torch.randn(1000);
        using var scalar = TorchSharp.torch.tensor(2.75f);
        SafeTensorsWriter.Save(path, new System.Collections.Generic.Dictionary<string, TorchSharp.torch.Tensor> { ["big"] = big, ["line"] = line, ["scalar"] = scalar });
        using var f = SafeTensorsFile.Open(path);
        foreach (var (name, source) in new[] { ("big", big), ("line", line), ("scalar", scalar) })
        {
            using var converted = f.Read(name, TorchSharp.torch.ScalarType.BFloat16);
            using var expected = source.to(TorchSharp.torch.ScalarType.BFloat16);
            Assert.Equal(TorchSharp.torch.ScalarType.BFloat16, converted.dtype);
            Assert.Equal(expected.shape, converted.shape);
            Assert.True(converted.eq(expected).all().item<bool>(), $"{name} differs");
            using var into = TorchSharp.torch.empty(source.shape, TorchSharp.torch.ScalarType.BFloat16); // ReadInto converts the same way
            f.ReadInto(name, into);
            Assert.True(into.eq(expected).all().item<bool>(), $"{name} read into a bf16 tensor differs");
        }
        using var same = f.Read("line", TorchSharp.torch.ScalarType.Float32); // the stored dtype: a plain read
        Assert.True(same.eq(line).all().item<bool>());
    }
}
