using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MoeDsl.Runtime.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.IO;

/// <summary>Sharded checkpoints: <c>model.safetensors.index.json</c> + shards.</summary>
public sealed class CheckpointIndexTests
{
    private const string Index = "model.safetensors.index.json";

    private static TempFolder TwoShards()
    {
        var dir = new TempFolder();
        using Tensor a = torch.tensor(new float[] { 1, 2 });
        using Tensor b = torch.tensor(new float[] { 3, 4, 5 });
        SafeTensorsWriter.Save(dir.File("model-00001-of-00002.safetensors"), new[] { KeyValuePair.Create("a", a) });
        SafeTensorsWriter.Save(dir.File("model-00002-of-00002.safetensors"), new[] { KeyValuePair.Create("b", b) });
        return dir;
    }

    private static ModelFormatException Refused(TempFolder dir, string index, string? item, string expected)
    {
        string path = dir.Write(Index, index);
        var e = Assert.Throws<ModelFormatException>(() => { using var c = Checkpoint.Open(dir.Path); });
        Assert.Equal(path, e.File);
        Assert.Equal(item, e.Item);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void Sharded_checkpoint_reads_each_tensor_from_its_shard()
    {
        using var dir = TwoShards();
        dir.Write(Index, "{\"metadata\":{\"total_size\":20},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        using var c = Checkpoint.Open(dir.Path);
        Assert.Equal(new[] { "a", "b" }, c.Names.OrderBy(n => n, StringComparer.Ordinal));
        using Tensor b = c.Read("b");
        Assert.Equal(new float[] { 3, 4, 5 }, b.data<float>().ToArray());
    }

    [Fact]
    public void Missing_shard_is_named()
    {
        using var dir = TwoShards();
        Refused(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00003-of-00003.safetensors\"}}", "b",
            "points at shard 'model-00003-of-00003.safetensors', which does not exist");
    }

    [Fact]
    public void Tensor_named_twice_in_the_weight_map_is_refused()
    {
        using var dir = TwoShards();
        Refused(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"a\":\"model-00002-of-00002.safetensors\"}}", "weight_map.a", "is named twice in the index");
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors")]
    [InlineData("/etc/model.safetensors")]
    [InlineData("sub/model.safetensors")]
    [InlineData("..")]
    [InlineData("model.bin")]
    public void Shard_names_that_leave_the_folder_are_refused(string shard)
    {
        using var dir = TwoShards();
        Refused(dir, "{\"weight_map\":{\"a\":\"" + shard + "\"}}", "a", "is not a plain '.safetensors' file name in the checkpoint folder");
    }

    [Fact]
    public void Tensor_absent_from_its_shard_is_named()
    {
        using var dir = TwoShards();
        Refused(dir, "{\"weight_map\":{\"b\":\"model-00001-of-00002.safetensors\"}}", "b", "is listed in shard 'model-00001-of-00002.safetensors' but that shard does not contain it");
    }

    [Fact]
    public void Index_that_is_not_json_is_refused()
    {
        using var dir = TwoShards();
        Refused(dir, "{\"weight_map\": {\"a\": ", null, "index is not valid JSON");
    }

    [Fact]
    public void Index_without_weight_map_is_refused()
    {
        using var dir = TwoShards();
        Refused(dir, "{\"metadata\":{}}", "weight_map", "is missing");
    }

    [Fact]
    public void Weight_map_values_must_be_strings()
    {
        using var dir = TwoShards();
        Refused(dir, "{\"weight_map\":{\"a\":1}}", "a", "must map to a shard file name, got number 1");
    }

    [Fact]
    public void A_malformed_shard_is_named_by_its_own_path()
    {
        using var dir = TwoShards();
        string shard = dir.File("model-00002-of-00002.safetensors");
        byte[] bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes[..^4]);
        dir.Write(Index, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        var e = Assert.Throws<ModelFormatException>(() => { using var c = Checkpoint.Open(dir.Path); });
        Assert.Equal(shard, e.File);
        Assert.Equal("b", e.Item);
    }

    [Fact]
    public void Folder_without_weights_is_refused()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<ModelFormatException>(() => { using var c = Checkpoint.Open(dir.Path); });
        Assert.Contains("has neither model.safetensors nor model.safetensors.index.json", e.Problem, StringComparison.Ordinal);
    }
}
