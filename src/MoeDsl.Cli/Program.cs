namespace MoeDsl.Cli;

/// <summary>The <c>moedsl</c> tool: <see cref="MoeDslApp"/> over this assembly's declarations as the generator lists them (<c>MoeDsl.Cli.Methods</c>).</summary>
public static class Program
{
    /// <summary>Entry point; see <see cref="MoeDslApp.Run"/> for the exit codes.</summary>
    public static int Main(string[] args) => MoeDslApp.Run(args, MoeDsl.Generated.DeclaredModels.All);
}
