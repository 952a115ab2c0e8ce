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
