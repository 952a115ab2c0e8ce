using MoeDsl.Runtime.Kernels;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Experts.Execution;

/// <summary>MixLoRA's LoRA dropout as MoE-PEFT applies it: every expert's gate, up and down LoRA is its own module with
/// its own <c>nn.Dropout</c>, called on the tokens routed to that expert, so each (token, expert) pair gets an
/// independent keep-mask per projection. The masks of one forward are drawn here, for all three executions alike, in
/// two calls in a fixed order and layout (pairs token-major, <c>pair = token * k + slot</c>; a token's k slots are
/// distinct experts, so a pair is a (token, expert)): the gate/up input masks <c>[T*k, 2, d]</c> (0: gate, 1: up), then
/// the down input masks <c>[T*k, I]</c>. Same seed, same masks, whichever execution runs.</summary>
internal static class MixLoraDropout
{
    /// <summary>Keep-masks (bool, kept with probability 1 - p) of one training forward.</summary>
    /// <param name="GateUp">[T*k, 2, d]: pair (token, slot)'s gate (0) and up (1) LoRA input masks.</param>
    /// <param name="Hidden">[T*k, I]: pair (token, slot)'s down LoRA input mask.</param>
    internal sealed record Masks(Tensor GateUp, Tensor Hidden);

    /// <summary>Draws the masks of <paramref name="tokens"/> x <paramref name="slots"/> pairs with drop probability
    /// <paramref name="p"/>.</summary>
    public static Masks Draw(long tokens, long slots, long inFeatures, long intermediate, double p, Device device)
    {
        Tensor gateUp = DropoutMasks.Keep(new[] { tokens * slots, 2, inFeatures }, p, device);
        Tensor hidden = DropoutMasks.Keep(new[] { tokens * slots, intermediate }, p, device);
        return new Masks(gateUp, hidden);
    }

    /// <summary>Inverted dropout with a given keep-mask: <c>x * keep / (1 - p)</c>.</summary>
    public static Tensor Apply(Tensor x, Tensor keep, double p) => x.mul(keep).mul_(1.0 / (1.0 - p));
}
