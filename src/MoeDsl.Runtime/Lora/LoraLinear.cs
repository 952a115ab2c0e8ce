using static TorchSharp.torch;

namespace MoeDsl.Runtime.Lora;

/// <summary>Plain LoRA: <c>h = W x + (alpha / r) B A dropout(x)</c>, the adapter path in fp32.
/// State-dict keys: <c>weight</c> (frozen), <c>lora_A.weight</c>, <c>lora_B.weight</c>.</summary>
public sealed class LoraLinear : Projection
{
    private readonly TorchSharp.Modules.Linear lora_A;
    private readonly TorchSharp.Modules.Linear lora_B;
    private readonly double scaling;
    private readonly double dropout;

    /// <summary>A frozen [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] projection named <paramref name="name"/>
    /// with one LoRA adapter (rank, alpha and dropout from <paramref name="lora"/>).</summary>
    public LoraLinear(int inFeatures, int outFeatures, LoraSettings lora, string name = "proj", bool hasBias = false) : base(name, inFeatures, outFeatures, hasBias)
    {
        (lora_A, lora_B) = LoraPair.Create(inFeatures, outFeatures, lora.Rank);
        scaling = lora.Scaling;
        dropout = lora.Dropout;
        Settings = lora;
        RegisterComponents();
    }

    /// <summary>The adapter's settings.</summary>
    public LoraSettings Settings { get; }
    /// <summary>A [r, in].</summary>
    public TorchSharp.Modules.Parameter A => lora_A.weight!;
    /// <summary>B [out, r].</summary>
    public TorchSharp.Modules.Parameter B => lora_B.weight!;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor baseOut = BaseLinear(x);
        Tensor down = nn.functional.linear(LoraInput(x, dropout), lora_A.weight!);
        if (baseOut.dtype != ScalarType.Float32)
            return (baseOut + (nn.functional.linear(down, lora_B.weight!) * scaling).to(baseOut.dtype)).MoveToOuterDisposeScope();
        // fp32 base: W x + s (A x) B^T as one GEMM accumulating into the frozen output (addmm), so neither the
        // [tokens, out] delta nor its scaled copy is materialised, forward or backward; the scale lands on rank-wide tensors.
        long[] shape = baseOut.shape;
        Tensor flat = addmm(baseOut.reshape(-1, OutFeatures), down.reshape(-1, down.shape[^1]), lora_B.weight!.t(), beta: 1, alpha: (float)scaling);
        return flat.view(shape).MoveToOuterDisposeScope();
    }
}
