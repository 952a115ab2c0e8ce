using MoeDsl.Runtime.Modeling;

namespace MoeDsl.Generator.Tests;

/// <summary>The registry's tool names: PascalCase split into lower-case words, acronyms kept whole, digit runs apart.</summary>
public class RegistryNameTests
{
    [Theory]
    [InlineData("TinyHourglass", "tiny-hourglass")]
    [InlineData("MoLA2468", "mola-2468")]
    [InlineData("Mola2468", "mola-2468")]
    [InlineData("MixLoRA", "mix-lora")]
    [InlineData("GMoE", "gmoe")]
    [InlineData("Lora", "lora")]
    [InlineData("StoriesMixLora", "stories-mix-lora")]
    [InlineData("Mola2468Big", "mola-2468-big")]
    [InlineData("M", "m")]
    public void ClassNamesSplitAtWords(string className, string expected)
        => Assert.Equal(expected, DeclaredModel.NameOf(className));
}
