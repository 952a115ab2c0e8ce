using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.IO;

/// <summary>The tensors of a Hugging Face checkpoint folder: <c>model.safetensors</c>, or the shards named by
/// <c>model.safetensors.index.json</c>.</summary>
public sealed class Checkpoint : IDisposable
{
    private readonly Dictionary<string, SafeTensorsFile> owner;
    private readonly List<SafeTensorsFile> files;

    private Checkpoint(string directory, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> owner)
    {
        Directory = directory;
        this.files = files;
        this.owner = owner;
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }
    /// <summary>Every tensor name.</summary>
    public IReadOnlyCollection<string> Names => owner.Keys;
    /// <summary>Whether the checkpoint has that tensor.</summary>
    public bool Contains(string name) => owner.ContainsKey(name);
    /// <summary>Header entry of a tensor.</summary>
    public SafeTensorEntry Entry(string name) => File(name).Entry(name);
    /// <summary>Reads a tensor (CPU, stored dtype).</summary>
    public Tensor Read(string name) => File(name).Read(name);
    /// <summary><see cref="SafeTensorsFile.Read(string, ScalarType)"/> of the file holding the tensor.</summary>
    public Tensor Read(string name, ScalarType dtype) => File(name).Read(name, dtype);
    /// <summary>Reads a tensor into <paramref name="destination"/> (<see cref="SafeTensorsFile.ReadInto"/>).</summary>
    public void ReadInto(string name, Tensor destination) => File(name).ReadInto(name, destination);
    /// <summary><see cref="SafeTensorsFile.Map"/> of the file holding the tensor.</summary>
    public Tensor? Map(string name) => File(name).Map(name);

    private SafeTensorsFile File(string name)
        => owner.TryGetValue(name, out var f) ? f : throw new ModelFormatException(Directory, name, "is not in the checkpoint");

    /// <summary>Opens a checkpoint folder.</summary>
    public static Checkpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new ModelFormatException(directory, null, "folder not found");
        string single = Path.Combine(directory, "model.safetensors");
        string index = Path.Combine(directory, "model.safetensors.index.json");
        var files = new List<SafeTensorsFile>();
        var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            if (System.IO.File.Exists(index))
            {
                foreach (var (tensor, shard) in ReadIndex(index))
                {
                    string shardPath = Path.GetFullPath(Path.Combine(directory, shard));
                    if (!string.Equals(Path.GetDirectoryName(shardPath), Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
                        throw new ModelFormatException(index, tensor, $"points at shard '{shard}', which is outside the checkpoint folder");
                    SafeTensorsFile? f = files.FirstOrDefault(x => x.Path == shardPath);
                    if (f is null)
                    {
                        if (!System.IO.File.Exists(shardPath)) throw new ModelFormatException(index, tensor, $"points at shard '{shard}', which does not exist");
                        f = SafeTensorsFile.Open(shardPath);
                        files.Add(f);
                    }
                    if (!f.Contains(tensor)) throw new ModelFormatException(index, tensor, $"is listed in shard '{shard}' but that shard does not contain it");
                    owner.Add(tensor, f);
                }
            }
            else if (System.IO.File.Exists(single))
            {
                SafeTensorsFile f = SafeTensorsFile.Open(single);
                files.Add(f);
                foreach (SafeTensorEntry e in f.Entries) owner.Add(e.Name, f);
            }
            else
            {
                throw new ModelFormatException(directory, null, "has neither model.safetensors nor model.safetensors.index.json");
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new Checkpoint(directory, files, owner);
    }

    private static List<(string Tensor, string Shard)> ReadIndex(string index)
    {
        long length = new FileInfo(index).Length;
        if (length > MaxIndexBytes) throw new ModelFormatException(index, null, $"is {length} bytes; an index larger than {MaxIndexBytes} bytes is refused");
        return ParseIndex(System.IO.File.ReadAllBytes(index), index);
    }

    /// <summary>Largest <c>model.safetensors.index.json</c> accepted.</summary>
    public const long MaxIndexBytes = 100_000_000;

    /// <summary>Parses and checks an index: a JSON object whose <c>weight_map</c> maps each tensor name (once) to a shard
    /// file name inside the checkpoint folder (no folders, no <c>..</c>, no absolute paths, ending in <c>.safetensors</c>).</summary>
    internal static List<(string Tensor, string Shard)> ParseIndex(byte[] bytes, string index)
    {
        using JsonDocument doc = JsonInput.Parse(bytes, index, null, "index");
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(index, null, "must be a JSON object with a 'weight_map'");
        if (!doc.RootElement.TryGetProperty("weight_map", out JsonElement map))
            throw new ModelFormatException(index, "weight_map", "is missing; the index must map tensor names to shard files");
        if (map.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(index, "weight_map", $"must be an object mapping tensor names to shard files, got {JsonInput.Describe(map)}");
        var result = new List<(string, string)>();
        foreach (JsonProperty p in map.EnumerateObject())
        {
            // JsonInput.Parse has already refused a tensor named twice (JsonDocument itself would keep both).
            if (p.Value.ValueKind != JsonValueKind.String) throw new ModelFormatException(index, p.Name, $"must map to a shard file name, got {JsonInput.Describe(p.Value)}");
            string shard = p.Value.GetString()!;
            if (!IsPlainShardName(shard))
                throw new ModelFormatException(index, p.Name, $"points at shard '{shard}', which is not a plain '.safetensors' file name in the checkpoint folder (no folders, '..', or absolute paths)");
            result.Add((p.Name, shard));
        }
        if (result.Count == 0) throw new ModelFormatException(index, "weight_map", "is empty; the index must list the checkpoint's tensors");
        return result;
    }

    private static bool IsPlainShardName(string shard)
    {
        if (shard.Length == 0 || shard.Length > 255 || shard == "." || shard == "..") return false;
        foreach (char c in shard)
            if (c == '/' || c == '\\' || c == ':' || char.IsControl(c)) return false;
        if (shard.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(shard)) return false;
        return shard.EndsWith(".safetensors", StringComparison.Ordinal);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in files) f.Dispose();
    }
}
