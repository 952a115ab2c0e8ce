using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeDsl.Runtime.Kernels;

/// <summary>Dropout keep-masks drawn by a counter-based generator on the CPU, for every dropout of the runtime (LoRA
/// inputs, the experts' inputs and hidden rows). libtorch's CPU <c>bernoulli_</c> and <c>rand</c> run one Mersenne
/// Twister serially on non-Intel CPUs (its MKL path is Intel-only): about 6 ns an element, 8% of a plain-LoRA train step
/// on this machine's AMD EPYC (bench/README.md). Here element i of a call keeps with probability 1 - p when
/// <c>SplitMix64(seed + i)</c>'s upper 32 bits are at least <c>p 2^32</c>; the 64-bit seed of each call is drawn from
/// torch's default generator (two <c>randint</c> values), so <c>torch.manual_seed</c> still fixes every mask and a
/// resumed run draws the same masks. Elements are independent of the thread count (the counter is the element's
/// index) and of the CPU's vector support (8 lanes at a time where Vector256 is in hardware, the same draws one by one
/// elsewhere). Other devices draw with libtorch (<c>rand(...) &gt;= p</c>, <c>dropout</c>).</summary>
public static unsafe class DropoutMasks
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>A bool keep-mask of <paramref name="shape"/> on <paramref name="device"/>: true with probability 1 - <paramref name="p"/>.</summary>
    public static Tensor Keep(long[] shape, double p, Device device)
    {
        Check(p);
        if (device.type != DeviceType.CPU) return rand(shape, device: device).ge(p);
        Tensor keep = empty(shape, ScalarType.Bool, device);
        Fill(keep, p, keepValue: null, NextSeed());
        return keep;
    }

    /// <summary>Inverted dropout of <paramref name="x"/> in training: <c>x * keep / (1 - p)</c> through one multiplication
    /// with a float mask of 0 and <c>1 / (1 - p)</c> (autograd saves that mask, as libtorch's dropout does); <paramref name="x"/>
    /// itself when not training or p = 0.</summary>
    public static Tensor Apply(Tensor x, double p, bool training)
    {
        Check(p);
        if (!training || p == 0) return x;
        if (x.device_type != DeviceType.CPU) return nn.functional.dropout(x, p, training);
        Tensor scaled = empty(x.shape, ScalarType.Float32, x.device);
        Fill(scaled, p, keepValue: (float)(1.0 / (1.0 - p)), NextSeed());
        return x.mul(x.dtype == ScalarType.Float32 ? scaled : scaled.to(x.dtype));
    }

    private static void Check(double p)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "a dropout probability must be in [0, 1)");
    }

    /// <summary>Fills <paramref name="mask"/> (contiguous, CPU): bool keep flags, or floats keepValue / 0 when keepValue is set.</summary>
    internal static void Fill(Tensor mask, double p, float? keepValue, ulong seed)
    {
        uint threshold = (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));
        if (keepValue is float value) Fill<float, ScaledFloats>(mask, new ScaledFloats(value), threshold, seed);
        else Fill<byte, BoolBytes>(mask, default, threshold, seed);
    }

    /// <summary>The one fill loop: element i of <paramref name="mask"/> is the writer's kept or dropped value as
    /// <c>Draw(seed, i) &gt;= threshold</c>, a vector of <see cref="IMaskElements{T}.Lanes"/> elements at a time where
    /// Vector256 is in hardware (the same draws, <see cref="Kept8"/>), one by one for the rest. Chunks of 4096 elements
    /// go to the kernels' thread team; the result does not depend on how they are split.</summary>
    private static void Fill<T, TWriter>(Tensor mask, TWriter writer, uint threshold, ulong seed)
        where T : unmanaged where TWriter : struct, IMaskElements<T>
    {
        long n = mask.numel();
        const long Chunk = 4096;
        long chunks = (n + Chunk - 1) / Chunk;
        T* data = ExpertKernels.Data<T>(mask);
        ExpertKernels.ForRowRanges(chunks, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            long i = start * Chunk, stop = Math.Min(n, end * Chunk);
            for (; Vector256.IsHardwareAccelerated && i + writer.Lanes <= stop; i += writer.Lanes) writer.Store(seed, i, threshold, data + i);
            for (; i < stop; i++) data[i] = writer.Value(Draw(seed, i) >= threshold);
        });
    }

    /// <summary>How one mask element type is written: <see cref="Lanes"/> elements from <see cref="Kept8"/> draws at
    /// once, or one element from one draw. A struct type parameter, so each fill loop is compiled for its type.</summary>
    private interface IMaskElements<T> where T : unmanaged
    {
        /// <summary>Elements written by one <see cref="Store"/>.</summary>
        int Lanes { get; }

        /// <summary>Writes elements index..index+Lanes-1 to <paramref name="destination"/>.</summary>
        void Store(ulong seed, long index, uint threshold, T* destination);

        /// <summary>The element for a kept or dropped draw.</summary>
        T Value(bool kept);
    }

    /// <summary>Float elements: the keep value (1 / (1 - p)) or 0, 8 per vector (the kept lanes' all-ones bits select it).</summary>
    private readonly struct ScaledFloats(float keepValue) : IMaskElements<float>
    {
        private readonly Vector256<uint> bits = Vector256.Create(BitConverter.SingleToUInt32Bits(keepValue));

        public int Lanes => 8;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(ulong seed, long index, uint threshold, float* destination)
            => Vector256.Store(Vector256.AsSingle(Kept8(seed, index, threshold) & bits), destination);

        public float Value(bool kept) => kept ? keepValue : 0f;
    }

    /// <summary>Bool elements (one byte, 1 or 0), 32 per vector: four 8-lane draws narrowed twice.</summary>
    private readonly struct BoolBytes : IMaskElements<byte>
    {
        public int Lanes => 32;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(ulong seed, long index, uint threshold, byte* destination)
        {
            Vector256<ushort> one = Vector256.Create((ushort)1);
            Vector256<ushort> lo = Vector256.Narrow(Kept8(seed, index, threshold), Kept8(seed, index + 8, threshold)) & one;
            Vector256<ushort> hi = Vector256.Narrow(Kept8(seed, index + 16, threshold), Kept8(seed, index + 24, threshold)) & one;
            Vector256.Store(Vector256.Narrow(lo, hi), destination);
        }

        public byte Value(bool kept) => kept ? (byte)1 : (byte)0;
    }

    /// <summary><see cref="Draw"/> for elements index..index+7 at once: all-ones lanes where the element is kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Kept8(ulong seed, long index, uint threshold)
    {
        Vector256<ulong> step = Vector256.Create(0UL, 1, 2, 3) * Golden;
        Vector256<ulong> baseCounter = Vector256.Create(seed + (ulong)(index + 1) * Golden);
        Vector256<uint> lo = Vector256.Narrow(Mix(baseCounter + step), Mix(baseCounter + step + Vector256.Create(unchecked(4 * Golden))));
        return Vector256.GreaterThanOrEqual(lo, Vector256.Create(threshold));
    }

    /// <summary>SplitMix64's finaliser on four counters, upper halves (as the low 32 bits of each lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Mix(Vector256<ulong> z)
    {
        z = (z ^ Vector256.ShiftRightLogical(z, 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ Vector256.ShiftRightLogical(z, 27)) * 0x94D049BB133111EBUL;
        z ^= Vector256.ShiftRightLogical(z, 31);
        return Vector256.ShiftRightLogical(z, 32);
    }

    /// <summary>The upper 32 bits of SplitMix64's output for counter <paramref name="index"/> of stream <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Draw(ulong seed, long index)
    {
        ulong z = seed + (ulong)(index + 1) * Golden;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (uint)(z >> 32);
    }

    /// <summary>64 bits from torch's default generator.</summary>
    private static ulong NextSeed()
    {
        using var bits = randint(0, 1L << 32, new long[] { 2 }, dtype: ScalarType.Int64);
        var v = bits.data<long>();
        return ((ulong)v[0] << 32) | (ulong)v[1];
    }
}
