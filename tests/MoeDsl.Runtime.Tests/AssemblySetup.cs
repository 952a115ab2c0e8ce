using System.Runtime.CompilerServices;

namespace MoeDsl.Runtime.Tests;

internal static class AssemblySetup
{
    /// <summary>Test classes run in parallel; one intra-op thread per test keeps parallel test classes from oversubscribing the cores.</summary>
    [ModuleInitializer]
    internal static void Init() => TorchSharp.torch.set_num_threads(1);
}
