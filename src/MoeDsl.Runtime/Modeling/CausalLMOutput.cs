using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Modeling;

/// <summary>Result of a forward: logits [B, L, V] and, while training a mixture, the auxiliary losses (already
/// multiplied by their coefficients) by name, and their sum.</summary>
public sealed class CausalLMOutput : IDisposable
{
    /// <summary>Holds <paramref name="logits"/>, the summed auxiliary loss (null when there is none) and its parts by name.</summary>
    public CausalLMOutput(Tensor logits, Tensor? auxLoss, IReadOnlyList<(string Name, Tensor Value)> auxParts)
    {
        Logits = logits;
        AuxLoss = auxLoss;
        AuxParts = auxParts;
    }

    /// <summary>Logits [B, L, V].</summary>
    public Tensor Logits { get; }
    /// <summary>Sum of the weighted auxiliary losses, or null.</summary>
    public Tensor? AuxLoss { get; }
    /// <summary>Each weighted auxiliary loss.</summary>
    public IReadOnlyList<(string Name, Tensor Value)> AuxParts { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        Logits.Dispose();
        AuxLoss?.Dispose();
        foreach (var (_, v) in AuxParts) v.Dispose();
    }
}
