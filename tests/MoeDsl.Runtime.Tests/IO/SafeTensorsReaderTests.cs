using System;
using System.Linq;
using MoeDsl.Runtime.IO;
using Xunit;
using static MoeDsl.Runtime.Tests.IO.SafeTensorsBytes;

namespace MoeDsl.Runtime.Tests.IO;

/// <summary>Every malformation of a safetensors file (length prefix, header JSON, offsets, shapes, dtypes, names) is refused with a
/// <see cref="ModelFormatException"/> that names the file, the tensor (when one is at fault) and what was expected.</summary>
public sealed class SafeTensorsReaderTests
{
    private static ModelFormatException Refused(byte[] bytes, string? item, string expected)
    {
        using var dir = new TempFolder();
        string path = dir.Write("model.safetensors", bytes);
        var e = Assert.Throws<ModelFormatException>(() => { using var f = SafeTensorsFile.Open(path); });
        Assert.Equal(path, e.File);
        Assert.Equal(item, e.Item);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        return e;
    }

    private const string A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    [Fact]
    public void Valid_file_reads_values_in_place()
    {
        using var dir = new TempFolder();
        string path = dir.Write("model.safetensors", Valid());
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new[] { "a", "b" }, f.Entries.Select(e => e.Name));
        using var b = f.Read("b");
        Assert.Equal(new long[] { 2, 2 }, b.shape);
        Assert.Equal(new float[] { 3, 4, 5, 6 }, b.data<float>().ToArray());
    }

    [Fact]
    public void Header_order_need_not_follow_offset_order()
    {
        // The format sorts tensors by offset before checking them; JSON object order carries no meaning.
        byte[] bytes = Make("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}," + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", F32(7, 9));
        using var dir = new TempFolder();
        using var f = SafeTensorsFile.Open(dir.Write("x.safetensors", bytes));
        using var a = f.Read("a");
        using var b = f.Read("b");
        Assert.Equal(7f, a.data<float>()[0]);
        Assert.Equal(9f, b.data<float>()[0]);
    }

    [Fact]
    public void File_shorter_than_the_length_prefix_is_refused() => Refused(new byte[] { 1, 2, 3 }, null, "is truncated: 3 bytes");

    [Fact]
    public void Header_length_larger_than_the_file_is_refused()
        => Refused(Make("{" + A + "}", F32(1, 2), declaredHeaderLength: 1000), null, "header length 1000 is larger than the rest of the file");

    [Fact]
    public void Absurd_header_length_is_refused_before_allocating()
        => Refused(Make("{}", Array.Empty<byte>(), declaredHeaderLength: ulong.MaxValue), null, $"exceeds the {SafeTensorsFile.MaxHeaderBytes}-byte limit");

    [Fact]
    public void Header_that_is_not_json_is_refused()
        => Refused(Make("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", F32(1, 2)), null, "header is not valid JSON");

    [Fact]
    public void Header_that_is_not_an_object_is_refused() => Refused(Make("[1, 2]", Array.Empty<byte>()), null, "must be a JSON object");

    [Fact]
    public void Header_with_invalid_utf8_is_refused()
    {
        byte[] header = System.Text.Encoding.UTF8.GetBytes("{\"a#\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
        int at = Array.IndexOf(header, (byte)'#');
        header[at] = 0xC3; // a lead byte followed by '"' is not UTF-8
        Refused(Make(header, Array.Empty<byte>()), null, $"header is not valid UTF-8 (bad byte 0xC3 at offset {at})");
    }

    [Fact]
    public void Offsets_outside_the_data_section_are_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", F32(1, 2)), "a", "data_offsets end 16 lies outside the data section (8 bytes)");

    [Fact]
    public void Truncated_data_is_refused_when_opened()
    {
        byte[] whole = Valid();
        Refused(whole[..^4], "b", "data_offsets end 24 lies outside the data section (20 bytes)");
    }

    [Fact]
    public void Overlapping_offsets_are_refused()
        => Refused(Make("{" + A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", F32(1, 2, 3)), "b", "overlap tensor 'a', which ends at 8");

    [Fact]
    public void A_gap_between_tensors_is_refused()
        => Refused(Make("{" + A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", F32(1, 2, 3, 4)), "b", "start at 12 but the previous tensor 'a' ends at 8");

    [Fact]
    public void Data_that_does_not_start_at_zero_is_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", F32(1, 2)), "a", "start at 4 but the previous tensors end at 0");

    [Fact]
    public void Reversed_offsets_are_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", F32(1, 2)), "a", "data_offsets [8, 0] are reversed");

    [Fact]
    public void Bytes_after_the_last_tensor_are_refused()
        => Refused(Make("{" + A + "}", F32(1, 2, 3)), "a", "ends at data offset 8, but the data section has 12 bytes");

    [Fact]
    public void Shape_times_dtype_size_must_match_the_byte_range()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", F32(1, 2)), "a", "shape [3] x F32 (4 bytes each) needs 12 bytes but data_offsets give 8");

    [Fact]
    public void Shape_whose_size_overflows_is_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", F32(1, 2)), "a", "needs more than 2^63 bytes");

    [Fact]
    public void Negative_shape_is_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", F32(1, 2)), "a", "shape entry number -2 is not a non-negative integer");

    [Fact]
    public void Unknown_dtype_is_refused_and_the_supported_ones_listed()
        => Refused(Make("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", F32(1, 2)), "a", "unsupported dtype 'F8_E4M3'; supported: F32, F16, BF16");

    [Fact]
    public void Duplicate_tensor_names_are_refused()
        => Refused(Make("{" + A + "," + A.Replace("[0,8]", "[8,16]") + "}", F32(1, 2, 3, 4)), "a", "is named twice in the header");

    [Fact]
    public void Duplicate_fields_inside_an_entry_are_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", F32(1, 2)), "a.dtype", "is named twice in the header");

    [Fact]
    public void Metadata_values_must_be_strings()
        => Refused(Make("{\"__metadata__\":{\"format\":1}," + A + "}", F32(1, 2)), "__metadata__.format", "must be a string");

    [Fact]
    public void Missing_data_offsets_are_refused()
        => Refused(Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", F32(1, 2)), "a", "has no 'data_offsets' [begin, end] pair");

    [Fact]
    public void A_tensor_not_in_the_file_is_named()
    {
        using var dir = new TempFolder();
        string path = dir.Write("model.safetensors", Valid());
        using var f = SafeTensorsFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => f.Read("c"));
        Assert.Equal("c", e.Item);
    }
}
