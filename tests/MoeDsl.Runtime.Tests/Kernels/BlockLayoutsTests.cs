using MoeDsl.Runtime.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Tests.Kernels;

/// <summary>The experts' B layout changes against element-by-element loops over the index formula, at sizes that are and
/// are not multiples of the 16-element tiles.</summary>
public sealed class BlockLayoutsTests
{
    [Theory]
    [InlineData(3, 37, 21)]
    [InlineData(8, 64, 16)]
    [InlineData(1, 5, 1)]
    public void TransposeBlocksMovesElementErcToEcr(int e, int rows, int columns)
    {
        using var scope = NewDisposeScope();
        Tensor source = arange(e * rows * columns, dtype: ScalarType.Float32).reshape(e, rows, columns);
        float[] got = BlockLayouts.TransposeBlocks(source).data<float>().ToArray();
        float[] src = source.data<float>().ToArray();
        Assert.Equal(new long[] { e, columns, rows }, BlockLayouts.TransposeBlocks(source).shape);
        for (int b = 0; b < e; b++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    Assert.Equal(src[(b * rows + r) * columns + c], got[(b * columns + c) * rows + r]);
    }

    [Theory]
    [InlineData(5, 7, 9)]
    [InlineData(512, 8, 16)]
    public void SwapLeadingMovesElementAbcToBac(int a, int b, int c)
    {
        using var scope = NewDisposeScope();
        Tensor source = arange(a * b * c, dtype: ScalarType.Float32).reshape(a, b, c);
        float[] got = BlockLayouts.SwapLeading(source).data<float>().ToArray();
        float[] src = source.data<float>().ToArray();
        Assert.Equal(new long[] { b, a, c }, BlockLayouts.SwapLeading(source).shape);
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++)
                for (int k = 0; k < c; k++)
                    Assert.Equal(src[(i * b + j) * c + k], got[(j * a + i) * c + k]);
    }
}
