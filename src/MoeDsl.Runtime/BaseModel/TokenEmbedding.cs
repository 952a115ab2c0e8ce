using MoeDsl.Runtime.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.BaseModel;

/// <summary>The frozen token embedding table (state-dict key <c>embed_tokens.weight</c>, [vocab, hidden]), looked up by
/// id. A plain parameter rather than TorchSharp's <c>nn.Embedding</c>: that module (and <c>Embedding_from_pretrained</c>)
/// always allocates and randomly fills a [vocab, hidden] table on the CPU first, whatever it is given — for a checkpoint
/// that was time spent drawing numbers nobody reads and, freed into the heap, a vocabulary-sized block of resident memory
/// (94 MiB for a 32,000 x 768 table). Built for a checkpoint, the table has no memory until the loader gives it the file's
/// (<see cref="FrozenBase"/>); otherwise the model initialises it.</summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>A [<paramref name="vocab"/>, <paramref name="hidden"/>] table under the name <c>embed_tokens</c>.</summary>
    public TokenEmbedding(long vocab, long hidden) : base("embed_tokens")
    {
        weight = new Parameter(empty(vocab, hidden, device: FrozenBase.InitDevice), requires_grad: false);
        RegisterComponents();
        if (FrozenBase.LeaveUninitialised) FrozenBase.Materialise(this, "weight", weight);
    }

    /// <summary>The table.</summary>
    public Parameter Weight => weight;

    /// <inheritdoc />
    public override Tensor forward(Tensor ids)
    {
        long[] shape = new long[ids.dim() + 1];
        for (int i = 0; i < ids.dim(); i++) shape[i] = ids.shape[i];
        shape[^1] = weight.shape[1];
        using Tensor flat = ids.reshape(-1);
        return weight.index_select(0, flat).view(shape);
    }
}
