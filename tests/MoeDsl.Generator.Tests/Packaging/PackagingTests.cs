using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using Xunit.Abstractions;

namespace MoeDsl.Generator.Tests.Packaging;

/// <summary>Packs src/MoeDsl.Generator into a temporary folder feed and builds a small consumer project against the package:
/// a valid declaration must build (warnings as errors) with the generated file on disk, an invalid one must fail with the
/// MOE diagnostic. The consumer references TorchSharp (package) and MoeDsl.Runtime (assembly) because the generated
/// code derives from MoeCausalLM; the package itself carries only the attributes and the generator.</summary>
[Trait("Category", "Packaging")]
public class PackagingTests(ITestOutputHelper output)
{
    private static string RepoRoot([CallerFilePath] string thisFile = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", ".."));

    [Fact]
    public void PackedPackageGeneratesAndDiagnosesInAConsumer()
    {
        string root = RepoRoot();
        string work = Path.Combine(Path.GetTempPath(), "moedsl-pack-" + Guid.NewGuid().ToString("N")[..8]);
        string feed = Path.Combine(work, "feed"), consumer = Path.Combine(work, "consumer");
        Directory.CreateDirectory(feed);
        Directory.CreateDirectory(consumer);
        // A version of its own so that the global packages folder never serves a stale copy.
        string version = "0.1.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            Run(root, "pack", Path.Combine(root, "src", "MoeDsl.Generator", "MoeDsl.Generator.csproj"), "-o", feed, $"-p:PackageVersion={version}", "--nologo");
            string package = Directory.GetFiles(feed, "*.nupkg").Single();
            using (var zip = System.IO.Compression.ZipFile.OpenRead(package))
            {
                var entries = zip.Entries.Select(e => e.FullName).ToList();
                Assert.Contains("lib/netstandard2.0/MoeDsl.Attributes.dll", entries);
                Assert.Contains("lib/netstandard2.0/MoeDsl.Attributes.xml", entries);
                Assert.Contains("analyzers/dotnet/cs/MoeDsl.Generator.dll", entries);
                Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) && e.EndsWith("MoeDsl.Generator.dll", StringComparison.Ordinal));
            }

            string runtimeDll = typeof(MoeDsl.Runtime.Modeling.MoeCausalLM).Assembly.Location;
            File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="moedsl-test-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>disable</ImplicitUsings>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                    <GenerateDocumentationFile>true</GenerateDocumentationFile>
                    <EmitCompilerGeneratedFiles>true</EmitCompilerGeneratedFiles>
                    <!-- The package feed here lacks the exact lower bounds TorchSharp asks for (see Directory.Packages.props). -->
                    <NoWarn>$(NoWarn);NU1603</NoWarn>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="MoeDsl" Version="{version}" />
                    <PackageReference Include="TorchSharp" Version="0.107.0" />
                    <Reference Include="MoeDsl.Runtime" HintPath="{runtimeDll}" />
                  </ItemGroup>
                </Project>
                """);
            string model = Path.Combine(consumer, "Tiny.cs");
            File.WriteAllText(model, Declarations.Wrap($"""
                [MoeModel(Placement = ExpertPlacement.FeedForward)]
                [BaseModel({Declarations.Stories260K})]
                [ExpertsPerLayer(4)]
                [Router(RouterKind.TopK, TopK = 2)]
                [Lora(Rank = 4, Alpha = 8)]
                """, "Tiny", "Consumer"));
            Run(consumer, "build", "--nologo", "-v", "minimal");
            string generated = Directory.GetFiles(Path.Combine(consumer, "obj"), "Consumer.Tiny.g.cs", SearchOption.AllDirectories).Single();
            Assert.Contains("partial class Tiny : global::MoeDsl.Runtime.Modeling.MoeCausalLM", File.ReadAllText(generated), StringComparison.Ordinal);

            File.WriteAllText(model, File.ReadAllText(model).Replace("TopK = 2", "TopK = 9", StringComparison.Ordinal));
            string failed = Run(consumer, "build", "--nologo", "-v", "minimal", true);
            Assert.Contains("error MOE021", failed, StringComparison.Ordinal);
            Assert.Contains("Tiny.cs(", failed, StringComparison.Ordinal);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* cleanup only: a leftover folder fails nothing */ }
        }
    }

    private string Run(string directory, params object[] args)
    {
        bool expectFailure = args.Length > 0 && args[^1] is bool b && b;
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (object a in args) if (a is string s) info.ArgumentList.Add(s);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var process = Process.Start(info)!;
        var text = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(180_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', info.ArgumentList)} did not finish in 180 s:\n{text}");
        }
        process.WaitForExit();
        string all = text.ToString();
        output.WriteLine($"dotnet {string.Join(' ', info.ArgumentList)} -> {process.ExitCode}");
        if (expectFailure) Assert.True(process.ExitCode != 0, $"expected a failing build:\n{all}");
        else Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', info.ArgumentList)} failed:\n{all}");
        return all;
    }
}
