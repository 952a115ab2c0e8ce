using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Buffers.Binary;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.IO;

/// <summary>One tensor of a safetensors file: its dtype, shape and byte range inside the data section.</summary>
public sealed record SafeTensorEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
}

/// <summary>Reads a <c>.safetensors</c> file: 8-byte little-endian header length, a JSON header, raw data.
/// Supported dtypes: F32, F16, BF16, F64, I64, I32, I8, U8, BOOL. Every problem is a <see cref="ModelFormatException"/>
/// naming the file and the tensor.</summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the format's own reference implementation caps it at 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly FileStream stream;
    private readonly Dictionary<string, SafeTensorEntry> entries;
    private readonly Dictionary<ScalarType, Tensor> mapped = new();
    private readonly Dictionary<ScalarType, Tensor> conversionBuffers = new();

    private SafeTensorsFile(string path, FileStream stream, long dataStart, Dictionary<string, SafeTensorEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        this.stream = stream;
        DataStart = dataStart;
        this.entries = entries;
        Metadata = metadata;
    }

    /// <summary>The file.</summary>
    public string Path { get; }
    /// <summary>Offset of the data section.</summary>
    public long DataStart { get; }
    /// <summary>The <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Tensors in header order.</summary>
    public IReadOnlyCollection<SafeTensorEntry> Entries => entries.Values;
    /// <summary>Whether the file holds a tensor of that name.</summary>
    public bool Contains(string name) => entries.ContainsKey(name);
    /// <summary>The entry of a tensor.</summary>
    public SafeTensorEntry Entry(string name) => entries.TryGetValue(name, out var e) ? e : throw new ModelFormatException(Path, name, "is not in this file");

    /// <summary>Opens and validates a file (header only; data is read on demand).</summary>
    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, null, "file not found");
        FileStream fs;
        try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ModelFormatException(path, null, $"cannot be opened: {e.Message}"); }
        try
        {
            var (dataStart, entries, metadata) = ReadHeader(fs, path);
            return new SafeTensorsFile(path, fs, dataStart, entries, metadata);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    private static (long, Dictionary<string, SafeTensorEntry>, Dictionary<string, string>) ReadHeader(FileStream fs, string path)
    {
        long fileLength = fs.Length;
        if (fileLength < 8) throw new ModelFormatException(path, null, $"is truncated: {fileLength} bytes, but a safetensors file starts with an 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen > MaxHeaderBytes) throw new ModelFormatException(path, null, $"header length {headerLen} exceeds the {MaxHeaderBytes}-byte limit; this is not a safetensors file or it is corrupt");
        if ((long)headerLen > fileLength - 8) throw new ModelFormatException(path, null, $"header length {headerLen} is larger than the rest of the file ({fileLength - 8} bytes); the file is truncated or not a safetensors file");
        byte[] header = new byte[headerLen];
        fs.ReadExactly(header);
        long dataStart = 8 + (long)headerLen;
        var (entries, metadata) = ParseHeader(header, fileLength - dataStart, path);
        return (dataStart, entries, metadata);
    }

    /// <summary>Validates a header as the format's reference implementation does: a UTF-8 JSON object whose tensors have a
    /// known dtype, a shape whose element count times the dtype size equals the byte range, and byte ranges that, sorted
    /// by offset, tile the data section exactly (start at 0, no gap, no overlap, end at the end of the file).</summary>
    internal static (Dictionary<string, SafeTensorEntry>, Dictionary<string, string>) ParseHeader(byte[] header, long dataLength, string path)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
            throw new ModelFormatException(path, null, "header must be a JSON object starting with '{'");
        var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using (JsonDocument doc = JsonInput.Parse(header, path, null, "header", maxDepth: 8))
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, null, "header must be a JSON object");
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "__metadata__", "must be an object of strings");
                    foreach (JsonProperty m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new ModelFormatException(path, "__metadata__." + m.Name, $"must be a string, got {JsonInput.Describe(m.Value)}");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(p.Name, ParseEntry(p, path, dataLength));
            }
        }

        // The reference implementation sorts by offsets and then requires each tensor to start where the previous one
        // ended and the last one to end at the end of the file (InvalidOffset / MetadataIncompleteBuffer).
        long cursor = 0;
        string? previous = null;
        foreach (SafeTensorEntry e in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < cursor)
                throw new ModelFormatException(path, e.Name, $"data_offsets [{e.Begin}, {e.End}) overlap tensor '{previous}', which ends at {cursor}; tensors must not share bytes");
            if (e.Begin > cursor)
                throw new ModelFormatException(path, e.Name, $"data_offsets start at {e.Begin} but the previous tensor{(previous is null ? "s end" : $" '{previous}' ends")} at {cursor}; the data section must be contiguous with no gap");
            cursor = e.End;
            previous = e.Name;
        }
        if (cursor != dataLength)
            throw new ModelFormatException(path, previous, $"is the last tensor and ends at data offset {cursor}, but the data section has {dataLength} bytes; the tensors must cover the data section exactly (extra or missing bytes)");
        return (entries, metadata);
    }

    private static SafeTensorEntry ParseEntry(JsonProperty p, string path, long dataLength)
    {
        JsonElement v = p.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, p.Name, $"header entry must be an object with dtype, shape, data_offsets; got {JsonInput.Describe(v)}");
        if (!v.TryGetProperty("dtype", out JsonElement dt) || dt.ValueKind != JsonValueKind.String)
            throw new ModelFormatException(path, p.Name, "has no string 'dtype'");
        string dtype = dt.GetString()!;
        int size = ElementSize(dtype) ?? throw new ModelFormatException(path, p.Name, $"has unsupported dtype '{dtype}'; supported: {string.Join(", ", SupportedDTypes)}");
        if (!v.TryGetProperty("shape", out JsonElement sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(path, p.Name, "has no 'shape' array");
        if (sh.GetArrayLength() > MaxRank) throw new ModelFormatException(path, p.Name, $"has {sh.GetArrayLength()} dimensions; at most {MaxRank} are supported");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (JsonElement d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long n) || n < 0)
                throw new ModelFormatException(path, p.Name, $"shape entry {JsonInput.Describe(d)} is not a non-negative integer");
            shape[i++] = n;
        }
        if (!v.TryGetProperty("data_offsets", out JsonElement off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new ModelFormatException(path, p.Name, "has no 'data_offsets' [begin, end] pair");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < 0)
            throw new ModelFormatException(path, p.Name, $"data_offsets {off.GetRawText()} must be two non-negative integers");
        if (end < begin) throw new ModelFormatException(path, p.Name, $"data_offsets [{begin}, {end}] are reversed; begin must not exceed end");
        if (end > dataLength) throw new ModelFormatException(path, p.Name, $"data_offsets end {end} lies outside the data section ({dataLength} bytes); the file is truncated or the header is wrong");
        long elements = 1;
        bool overflow = false;
        foreach (long d in shape)
        {
            if (d != 0 && elements > long.MaxValue / d) { overflow = true; break; }
            elements *= d;
        }
        if (overflow || elements > long.MaxValue / size || elements * size != end - begin)
            throw new ModelFormatException(path, p.Name, $"shape [{string.Join(", ", shape)}] x {dtype} ({size} bytes each) needs {(overflow || elements > long.MaxValue / size ? "more than 2^63" : (elements * size).ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes but data_offsets give {end - begin}");
        return new SafeTensorEntry(p.Name, dtype, shape, begin, end);
    }

    /// <summary>Most dimensions a tensor may have.</summary>
    public const int MaxRank = 8;

    /// <summary>The dtypes this reader accepts.</summary>
    public static readonly string[] SupportedDTypes = { "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL" };

    /// <summary>Bytes per element of a safetensors dtype, or null if unsupported.</summary>
    public static int? ElementSize(string dtype) => dtype switch
    {
        "F32" or "I32" => 4,
        "F16" or "BF16" => 2,
        "I64" or "F64" => 8,
        "U8" or "BOOL" or "I8" => 1,
        _ => null,
    };

    internal static ScalarType ToScalarType(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new ArgumentException($"unsupported dtype {dtype}"),
    };

    internal static string ToDType(ScalarType t) => t switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentException($"dtype {t} cannot be written to safetensors"),
    };

    /// <summary>Reads a tensor onto the CPU in its stored dtype, straight from the file into the new tensor's memory (no
    /// managed buffer in between).</summary>
    public Tensor Read(string name)
    {
        SafeTensorEntry e = Entry(name);
        Tensor t = torch.empty(e.Shape, ToScalarType(e.DType));
        try { ReadBytes(e, t); }
        catch
        {
            t.Dispose();
            throw;
        }
        return t;
    }

    /// <summary>Bytes of stored data converted per piece by <see cref="Read(string, ScalarType)"/>.</summary>
    public const long ConversionChunkBytes = 32L << 20;

    /// <summary>Reads a tensor onto the CPU converted to <paramref name="dtype"/>: the stored data passes through one
    /// buffer of at most <see cref="ConversionChunkBytes"/> (whole rows of the first dimension; one row at a time when a
    /// row is larger), so converting never holds the tensor twice — an fp32 file loaded into a bf16 base peaks at the bf16
    /// model, not at the fp32 one plus it (and a heap that keeps freed memory keeps no fp32 copy either).</summary>
    public Tensor Read(string name, ScalarType dtype)
    {
        SafeTensorEntry e = Entry(name);
        if (ToScalarType(e.DType) == dtype) return Read(name);
        Tensor result = torch.empty(e.Shape, dtype);
        try { ReadConverted(e, result); }
        catch
        {
            result.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Reads the entry into <paramref name="destination"/> (a contiguous CPU tensor of its shape, another dtype)
    /// piece by piece through the kept <see cref="ConversionBuffer"/>: whole rows of the first dimension per piece.</summary>
    private void ReadConverted(SafeTensorEntry e, Tensor destination)
    {
        long rows = e.Shape.Length == 0 ? 1 : e.Shape[0];
        long rowBytes = rows == 0 ? 0 : (e.End - e.Begin) / rows;
        long rowsPerChunk = Math.Max(1, Math.Min(rows, ConversionChunkBytes / Math.Max(1, rowBytes)));
        long rowElements = rows == 0 ? 0 : e.ElementCount / rows;
        Tensor buffer = ConversionBuffer(ToScalarType(e.DType), rowsPerChunk * rowElements);
        using Tensor flatDestination = destination.view(rows, rowElements);
        for (long row = 0; row < rows; row += rowsPerChunk)
        {
            long count = Math.Min(rowsPerChunk, rows - row);
            using Tensor piece = buffer.narrow(0, 0, count * rowElements);
            ReadBytes(e, piece, row * rowBytes, count * rowBytes);
            using Tensor target = flatDestination.narrow(0, row, count);
            using Tensor source = piece.view(count, rowElements);
            using (torch.no_grad()) target.copy_(source);
        }
    }

    // One conversion buffer per stored dtype, kept for the file's lifetime: a buffer allocated afresh per tensor lands at
    // a new address each time, and a heap that keeps freed memory (Native/CpuAllocator) would keep every one of them
    // resident (measured: +1.4 GiB loading Llama-3.2-1B's fp32 shards into a bf16 base).
    private Tensor ConversionBuffer(ScalarType dtype, long elements)
    {
        lock (stream)
        {
            if (!conversionBuffers.TryGetValue(dtype, out Tensor? buffer) || buffer.shape[0] < elements)
            {
                buffer?.Dispose();
                conversionBuffers[dtype] = buffer = torch.empty(Math.Max(elements, ConversionChunkBytes / ElementSize(ToDType(dtype))!.Value), dtype);
            }
            return buffer;
        }
    }

    /// <summary>Reads a tensor into <paramref name="destination"/>, which must have its shape: straight from the file into
    /// its memory when it is a contiguous CPU tensor of the stored dtype; converted piece by piece through the kept buffer
    /// when it is a contiguous CPU tensor of another dtype (as <see cref="Read(string, ScalarType)"/>); otherwise through a
    /// temporary tensor of the stored dtype copied by <c>copy_</c>.</summary>
    public void ReadInto(string name, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        SafeTensorEntry e = Entry(name);
        if (!e.Shape.SequenceEqual(destination.shape))
            throw new ModelFormatException(Path, name, $"has shape [{string.Join(", ", e.Shape)}] but the destination is [{string.Join(", ", destination.shape)}]");
        if (destination.device_type == DeviceType.CPU && destination.is_contiguous())
        {
            if (destination.dtype == ToScalarType(e.DType)) ReadBytes(e, destination);
            else ReadConverted(e, destination);
            return;
        }
        using Tensor t = Read(name);
        using (torch.no_grad()) destination.copy_(t);
    }

    /// <summary>Whether <see cref="Map"/> is used by the checkpoint loader: on, unless the environment sets
    /// <c>MOEDSL_MMAP=0</c> (then every tensor is read into memory of its own).</summary>
    public static bool MappingEnabled { get; } = Environment.GetEnvironmentVariable("MOEDSL_MMAP") != "0";

    /// <summary>The tensor as a view of the file mapped copy-on-write (<c>torch.from_file</c>: <c>mmap</c> with
    /// <c>MAP_PRIVATE</c>; the whole file is mapped once per element type, on first use, and stays mapped while any view
    /// lives): no copy and no page of anonymous memory; its pages are read from the page cache when first touched and shared with it, as
    /// llama.cpp and <c>safetensors</c>' own loader do. Writes to the view stay in this process (the file never changes).
    /// Null when the entry cannot be viewed in place: its offset is not a multiple of its element size (the format does
    /// not require alignment), it is empty, or mapping is off (<see cref="MappingEnabled"/>). A file replaced by a rename
    /// while mapped is harmless (the old one stays mapped); one truncated in place under a running process is not, as for
    /// every mmap-based loader.</summary>
    public Tensor? Map(string name)
    {
        SafeTensorEntry e = Entry(name);
        ScalarType dtype = ToScalarType(e.DType);
        long size = ElementSize(e.DType)!.Value;
        long offset = DataStart + e.Begin;
        if (!MappingEnabled || e.End == e.Begin || offset % size != 0) return null;
        Tensor whole;
        lock (stream)
        {
            if (!mapped.TryGetValue(dtype, out whole!))
                mapped[dtype] = whole = torch.from_file(Path, shared: false, size: stream.Length / size, dtype: dtype);
        }
        using Tensor flat = whole.narrow(0, offset / size, e.ElementCount);
        return flat.view(e.Shape);
    }

    /// <summary>Reads the entry's bytes into the memory of <paramref name="t"/> (a contiguous CPU tensor of its size).</summary>
    private void ReadBytes(SafeTensorEntry e, Tensor t) => ReadBytes(e, t, 0, e.End - e.Begin);

    /// <summary>Reads <paramref name="length"/> bytes of the entry from <paramref name="from"/> on into the memory of
    /// <paramref name="t"/> (a contiguous CPU tensor of that many bytes).</summary>
    private unsafe void ReadBytes(SafeTensorEntry e, Tensor t, long from, long length)
    {
        if (length == 0) return;
        byte* data = Kernels.ExpertKernels.Data<byte>(t);
        lock (stream)
        {
            stream.Seek(DataStart + e.Begin + from, SeekOrigin.Begin);
            for (long done = 0; done < length;)
            {
                int chunk = (int)Math.Min(length - done, 1L << 30);
                try { stream.ReadExactly(new Span<byte>(data + done, chunk)); }
                catch (EndOfStreamException) { throw new ModelFormatException(Path, e.Name, "data is truncated"); }
                done += chunk;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (Tensor whole in mapped.Values) whole.Dispose();
        mapped.Clear();
        foreach (Tensor buffer in conversionBuffers.Values) buffer.Dispose();
        conversionBuffers.Clear();
        stream.Dispose();
    }
}

/// <summary>Writes <c>.safetensors</c> files, atomically (temporary file in the same folder, flushed, renamed).</summary>
public static class SafeTensorsWriter
{
    /// <summary>The temporary file a save of <paramref name="path"/> writes before renaming it: same folder (so the
    /// rename is atomic), named <c>.{file}.{pid}.{random}.tmp</c>.</summary>
    public static string TemporaryPathFor(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        return System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Writes the tensors (moved to CPU, contiguous) in the given order. The file appears complete or not at
    /// all: the bytes go to a temporary file in the same folder, are flushed to disk, and the file is renamed over
    /// <paramref name="path"/>; on failure the temporary file is removed.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        var blobs = new List<byte[]>(list.Count);
        foreach (var (name, t) in list)
        {
            if (header.ContainsKey(name)) throw new ArgumentException($"tensor '{name}' given twice");
            using Tensor cpu = t.detach().cpu().contiguous();
            byte[] data = cpu.numel() == 0 ? Array.Empty<byte>() : cpu.bytes.ToArray();
            header[name] = new { dtype = SafeTensorsFile.ToDType(cpu.dtype), shape = cpu.shape, data_offsets = new[] { offset, offset + data.Length } };
            offset += data.Length;
            blobs.Add(data);
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        string temp = TemporaryPathFor(path);
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
                fs.Write(len);
                fs.Write(json);
                for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
                foreach (byte[] b in blobs) fs.Write(b);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            // Best effort: the write's own exception, rethrown below, is the one that matters.
            try { File.Delete(temp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the temporary file stays behind */ }
            throw;
        }
    }
}
