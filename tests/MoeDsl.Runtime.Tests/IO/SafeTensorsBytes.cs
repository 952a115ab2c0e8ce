using System;
using System.Buffers.Binary;
using System.Text;

namespace MoeDsl.Runtime.Tests.IO;

/// <summary>Builds safetensors files byte by byte, so tests can write exactly the malformation they test.</summary>
internal static class SafeTensorsBytes
{
    /// <summary>8-byte little-endian length (the header's own unless <paramref name="declaredHeaderLength"/>), header, data.</summary>
    public static byte[] Make(string header, byte[] data, ulong? declaredHeaderLength = null)
        => Make(Encoding.UTF8.GetBytes(header), data, declaredHeaderLength);

    public static byte[] Make(byte[] header, byte[] data, ulong? declaredHeaderLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>Little-endian float32 bytes.</summary>
    public static byte[] F32(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), values[i]);
        return b;
    }

    /// <summary>A valid two-tensor file: a [2] F32 = {1, 2} at [0, 8) and b [2, 2] F32 = {3, 4, 5, 6} at [8, 24).</summary>
    public static byte[] Valid()
        => Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
            F32(1, 2, 3, 4, 5, 6));
}
