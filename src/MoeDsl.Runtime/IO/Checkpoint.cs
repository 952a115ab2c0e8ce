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
                    string shardPath = Path.Combine(directory, shard);
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
        JsonDocument doc;
        try { doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(index)); }
        catch (JsonException e) { throw new ModelFormatException(index, null, $"is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(index, "weight_map", "is missing; the index must map tensor names to shard files");
            var result = new List<(string, string)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw new ModelFormatException(index, p.Name, "is named twice in weight_map");
                if (p.Value.ValueKind != JsonValueKind.String) throw new ModelFormatException(index, p.Name, "must map to a shard file name");
                string shard = p.Value.GetString()!;
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new ModelFormatException(index, p.Name, $"shard '{shard}' must be a file name in the checkpoint folder");
                result.Add((p.Name, shard));
            }
            return result;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in files) f.Dispose();
    }
}
