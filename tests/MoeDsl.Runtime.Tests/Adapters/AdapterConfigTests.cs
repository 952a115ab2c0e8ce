using System.IO;
using System.Linq;
using MoeDsl.Runtime.Adapters;
using MoeDsl.Runtime.IO;
using MoeDsl.Runtime.Modeling;
using Xunit;

namespace MoeDsl.Runtime.Tests.Adapters;

/// <summary>adapter_config.json carries the whole declaration: reading it back gives the declaration every declared model
/// of this assembly was written with (groups, router settings of its kind, losses, shape), and a model built from the
/// read declaration has the generated class's parameters.</summary>
[Collection(nameof(SerialTests))]
public sealed class AdapterConfigTests
{
    [Fact]
    public void EveryDeclarationRoundTripsThroughAdapterConfig()
    {
        string dir = Directory.CreateTempSubdirectory("moedsl-adapter-config-").FullName;
        try
        {
            Assert.NotEmpty(MoeDsl.Generated.DeclaredModels.All);
            foreach (DeclaredModel declared in MoeDsl.Generated.DeclaredModels.All)
            {
                ModelSpec spec = declared.Spec;
                string path = Path.Combine(dir, declared.Name + ".json");
                File.WriteAllText(path, AdapterConfig.Write(spec, "base"));
                ModelSpec read = AdapterConfig.Read(path);
                Assert.Equal(spec.Groups, read.Groups);
                Assert.Equal(spec.Router, read.Router);
                Assert.Equal(spec.GraphLosses, read.GraphLosses);
                Assert.Equal(spec.LoadBalance, read.LoadBalance);
                Assert.Equal((spec.Name, spec.Placement, spec.Targets, spec.Alpha, spec.Dropout), (read.Name, read.Placement, read.Targets, read.Alpha, read.Dropout));
                Assert.Equal((spec.Layers, spec.Hidden, spec.Intermediate, spec.Heads, spec.KvHeads, spec.Vocab),
                    (read.Layers, read.Hidden, read.Intermediate, read.Heads, read.KvHeads, read.Vocab));
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AModelBuiltFromTheReadDeclarationHasTheGeneratedParameters()
    {
        string dir = Directory.CreateTempSubdirectory("moedsl-adapter-config-").FullName;
        try
        {
            string path = Path.Combine(dir, AdapterStore.ConfigFile);
            File.WriteAllText(path, AdapterConfig.Write(StoriesGmoe.Spec, "base"));
            using MoeCausalLM generated = StoriesGmoe.Create(TestModels.StoriesShape);
            using MoeCausalLM fromConfig = SpecModel.Create(TestModels.StoriesShape, AdapterConfig.Read(path));
            Assert.Equal(generated.named_parameters().Select(p => (p.name, string.Join("x", p.parameter.shape))),
                fromConfig.named_parameters().Select(p => (p.name, string.Join("x", p.parameter.shape))));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AMissingFieldIsNamed()
    {
        string dir = Directory.CreateTempSubdirectory("moedsl-adapter-config-").FullName;
        try
        {
            string path = Path.Combine(dir, AdapterStore.ConfigFile);
            File.WriteAllText(path, AdapterConfig.Write(StoriesMixLora.Spec, "base").Replace("\"expert_groups\"", "\"groups\""));
            var e = Assert.Throws<ModelFormatException>(() => AdapterConfig.Read(path));
            Assert.Contains("expert_groups", e.Message, System.StringComparison.Ordinal);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
