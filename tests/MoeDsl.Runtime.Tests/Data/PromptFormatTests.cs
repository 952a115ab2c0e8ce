using MoeDsl.Runtime.Data;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

public sealed class PromptFormatTests
{
    private static readonly MultipleChoiceExample Example = new(1, "Which is a mammal?", new[] { "shark", "whale", "trout" }, 1);

    [Fact]
    public void Prompt_lists_lettered_options_and_ends_with_Answer()
        => Assert.Equal("Which is a mammal?\nA. shark\nB. whale\nC. trout\nAnswer:", PromptFormat.Prompt(Example));

    [Fact]
    public void Target_is_a_space_and_the_letter()
    {
        Assert.Equal(" B", PromptFormat.Target(Example.Answer));
        Assert.Equal("Z", PromptFormat.Letter(25));
    }

    [Fact]
    public void Likelihood_context_and_continuation()
    {
        Assert.Equal("Which is a mammal?\nAnswer:", PromptFormat.LikelihoodContext(Example));
        Assert.Equal(" whale", PromptFormat.LikelihoodContinuation("whale"));
    }
}
