using System;
using System.Linq;
using MoeDsl.Runtime.Modeling;
using static TorchSharp.torch;

namespace MoeDsl.Tests;

/// <summary>Two models built from the same declaration (a generated class and a run-time spec) are the same module tree:
/// the same parameter and buffer names in order, shapes and bytes.</summary>
internal static class SameModules
{
    public static void Assert(MoeCausalLM a, MoeCausalLM b)
    {
        var pa = a.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(a.named_buffers()).ToList();
        var pb = b.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(b.named_buffers()).ToList();
        Xunit.Assert.Equal(pa.Select(p => p.Item1), pb.Select(p => p.Item1));
        foreach (var ((n, ta), (_, tb)) in pa.Zip(pb))
        {
            Xunit.Assert.True(ta.shape.SequenceEqual(tb.shape), n);
            Xunit.Assert.True(ta.bytes.SequenceEqual(tb.bytes), $"{n} differs");
        }
    }
}
