namespace MoeDsl.Runtime.Lora;

/// <summary>Rank, alpha and dropout of one LoRA adapter (or of every expert of a layer).</summary>
public sealed record LoraSettings(int Rank, double Alpha, double Dropout)
{
    /// <summary>alpha / r, the factor on B A x.</summary>
    public double Scaling => Alpha / Rank;
}
