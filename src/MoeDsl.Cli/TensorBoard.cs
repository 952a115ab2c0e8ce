using System;
using TorchSharp.Modules;
using static TorchSharp.torch.utils.tensorboard;

namespace MoeDsl.Cli;

/// <summary>TensorBoard scalars through TorchSharp's <c>SummaryWriter</c> (event files under OUT/tensorboard).</summary>
internal sealed class TensorBoard : IDisposable
{
    private readonly SummaryWriter writer;

    private TensorBoard(SummaryWriter writer) => this.writer = writer;

    /// <summary>A writer, or null (with a note on stderr) when the event file cannot be created.</summary>
    public static TensorBoard? TryCreate(string directory)
    {
        try { return new TensorBoard(SummaryWriter(directory, createRunName: false)); }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"moedsl: TensorBoard scalars off ({e.Message})");
            return null;
        }
    }

    /// <summary>Adds one scalar (non-finite values are left out).</summary>
    public void Scalar(string tag, double value, int step)
    {
        if (double.IsFinite(value)) writer.add_scalar(tag, (float)value, step);
    }

    public void Dispose() { }
}
