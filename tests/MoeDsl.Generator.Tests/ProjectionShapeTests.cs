using System;
using System.Reflection;

namespace MoeDsl.Generator.Tests;

/// <summary><c>DeclarationShapes.Shape</c> with an explicit head dimension, against the weight shapes of real checkpoints
/// (as their config.json and safetensors headers give them). The generator's copy of the shared source is called (its
/// enums are the attributes' source compiled in, so they are reached by reflection to avoid the name clash).</summary>
public class ProjectionShapeTests
{
    private static readonly Assembly Generator = typeof(MoeModelGenerator).Assembly;
    private static readonly Type Shapes = Generator.GetType("MoeDsl.Shared.DeclarationShapes", throwOnError: true)!;

    private static object Enum(string type, string value) => System.Enum.Parse(Generator.GetType("MoeDsl." + type, throwOnError: true)!, value);

    private static (long, long) Shape(string projection, long hidden, long intermediate, long heads, long kvHeads, long headDim)
        => ((long, long))Shapes.GetMethod("Shape")!.Invoke(null, new[] { Enum("LoraTargets", projection), hidden, intermediate, heads, kvHeads, headDim })!;

    [Theory]
    // Qwen3-0.6B: hidden 1024, 16 heads, 8 kv heads, head_dim 128 (not 1024 / 16 = 64), intermediate 3072.
    // q_proj.weight [2048, 1024], k_proj/v_proj [1024, 1024], o_proj [1024, 2048].
    [InlineData("Q", 1024, 3072, 16, 8, 128, 1024, 2048)]
    [InlineData("K", 1024, 3072, 16, 8, 128, 1024, 1024)]
    [InlineData("V", 1024, 3072, 16, 8, 128, 1024, 1024)]
    [InlineData("O", 1024, 3072, 16, 8, 128, 2048, 1024)]
    [InlineData("Gate", 1024, 3072, 16, 8, 128, 1024, 3072)]
    [InlineData("Up", 1024, 3072, 16, 8, 128, 1024, 3072)]
    [InlineData("Down", 1024, 3072, 16, 8, 128, 3072, 1024)]
    // Gemma-7B: hidden 3072, 16 heads of 256 (4096 != 3072), kv heads 16.
    [InlineData("Q", 3072, 24576, 16, 16, 256, 3072, 4096)]
    [InlineData("O", 3072, 24576, 16, 16, 256, 4096, 3072)]
    // LLaMA-2-7B: head_dim = hidden / heads, so q and o stay hidden -> hidden.
    [InlineData("Q", 4096, 11008, 32, 32, 128, 4096, 4096)]
    [InlineData("O", 4096, 11008, 32, 32, 128, 4096, 4096)]
    public void ShapesFollowTheHeadDimension(string projection, long hidden, long intermediate, long heads, long kvHeads, long headDim,
        long expectedIn, long expectedOut)
        => Assert.Equal((expectedIn, expectedOut), Shape(projection, hidden, intermediate, heads, kvHeads, headDim));

    [Fact]
    public void LayerCountUsesTheHeadDimension()
    {
        // Plain LoRA r = 8 on q and o of Qwen3-0.6B: 8 * (1024 + 2048) twice = 49,152 (with head_dim 64 it would be 32,768).
        object qo = Enum("LoraTargets", "Q, O");
        object count = Shapes.GetMethod("LayerParameters")!.Invoke(null, new[] { Enum("ExpertPlacement", "FeedForward"), null, qo,
            1024L, 3072L, 16L, 8L, 128L, 0L, 8L, 0L, 0L })!;
        Assert.Equal(49_152L, (long)count);
    }
}
