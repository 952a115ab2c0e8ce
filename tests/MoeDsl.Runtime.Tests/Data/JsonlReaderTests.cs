using System;
using System.Linq;
using System.Text;
using MoeDsl.Runtime.Data;
using Xunit;

namespace MoeDsl.Runtime.Tests.Data;

public sealed class JsonlReaderTests
{
    private const string File = "train.jsonl";

    private static DataFile Read(string content, DataLayout layout, bool skip = false)
        => JsonlReader.Parse(Encoding.UTF8.GetBytes(content), File, layout, new JsonlReadOptions { SkipBadLines = skip });

    private static MultipleChoiceExample One(string line, DataLayout layout) => Assert.IsType<MultipleChoiceExample>(Assert.Single(Read(line, layout).Examples));

    private static DataFormatException Refused(string content, DataLayout layout, int? line, string? field, string expected)
    {
        var e = Assert.Throws<DataFormatException>(() => Read(content, layout));
        Assert.Equal(File, e.File);
        Assert.Equal(line, e.Line);
        Assert.Equal(field, e.Field);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void Text_and_prompt_completion_lines_are_read_with_line_numbers()
    {
        DataFile d = Read("{\"text\": \"one\"}\n\n{\"text\": \"two\"}\r\n", DataLayout.Text);
        Assert.Equal(new DataExample[] { new TextExample(1, "one"), new TextExample(3, "two") }, d.Examples);
        var pc = Assert.IsType<PromptCompletionExample>(Assert.Single(Read("\uFEFF{\"prompt\": \"2+2=\", \"completion\": \" 4\"}", DataLayout.PromptCompletion).Examples));
        Assert.Equal(new PromptCompletionExample(1, "2+2=", " 4"), pc);
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("\"C\"", 2)]
    [InlineData("\"blue\"", 0)]
    public void Generic_answer_is_an_index_a_letter_or_the_option_text(string answer, int expected)
    {
        var ex = One("{\"question\": \"Sky?\", \"choices\": [\"blue\", \"green\", \"red\"], \"answer\": " + answer + "}", DataLayout.MultipleChoice);
        Assert.Equal("Sky?", ex.Question);
        Assert.Equal(new[] { "blue", "green", "red" }, ex.Options);
        Assert.Equal(expected, ex.Answer);
    }

    [Fact]
    public void Arc_as_published()
    {
        var ex = One("{\"id\": \"Mercury_7175875\", \"question\": \"An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\", \"choices\": {\"text\": [\"Planetary density will decrease.\", \"Planetary years will become longer.\", \"Planetary days will become shorter.\", \"Planetary gravity will become stronger.\"], \"label\": [\"A\", \"B\", \"C\", \"D\"]}, \"answerKey\": \"C\"}", DataLayout.Arc);
        Assert.Equal(4, ex.Options.Count);
        Assert.Equal(2, ex.Answer);
        Assert.Equal(1, One("{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\", \"c\"], \"label\": [\"1\", \"2\", \"3\"]}, \"answerKey\": \"2\"}", DataLayout.Arc).Answer);
    }

    [Fact]
    public void OpenBookQA_as_published()
    {
        var ex = One("{\"id\": \"7-980\", \"question_stem\": \"The sun is responsible for\", \"choices\": {\"text\": [\"puppies learning new tricks\", \"children growing up and getting old\", \"flowers wilting in a vase\", \"plants sprouting, blooming and wilting\"], \"label\": [\"A\", \"B\", \"C\", \"D\"]}, \"answerKey\": \"D\"}", DataLayout.OpenBookQA);
        Assert.Equal("The sun is responsible for", ex.Question);
        Assert.Equal(3, ex.Answer);
    }

    [Fact]
    public void BoolQ_as_published_puts_the_passage_first_and_answers_yes_or_no()
    {
        var ex = One("{\"question\": \"do iran and afghanistan speak the same language\", \"answer\": true, \"passage\": \"Persian language -- Persian is spoken in Iran and Afghanistan.\"}", DataLayout.BoolQ);
        Assert.Equal("Persian language -- Persian is spoken in Iran and Afghanistan.\ndo iran and afghanistan speak the same language", ex.Question);
        Assert.Equal(new[] { "yes", "no" }, ex.Options);
        Assert.Equal(0, ex.Answer);
        Assert.Equal(1, One("{\"question\": \"q\", \"answer\": false, \"passage\": \"p\"}", DataLayout.BoolQ).Answer);
    }

    [Fact]
    public void Piqa_as_published()
    {
        var ex = One("{\"goal\": \"When boiling butter, when it's ready, you can\", \"sol1\": \"Pour it onto a plate\", \"sol2\": \"Pour it into a jar\", \"label\": 1}", DataLayout.Piqa);
        Assert.Equal(new[] { "Pour it onto a plate", "Pour it into a jar" }, ex.Options);
        Assert.Equal(1, ex.Answer);
    }

    [Fact]
    public void Siqa_as_published_labels_from_one()
    {
        var ex = One("{\"context\": \"Cameron decided to have a barbecue and gathered her friends together.\", \"question\": \"How would Others feel as a result?\", \"answerA\": \"like attending\", \"answerB\": \"like staying home\", \"answerC\": \"a good friend to have\", \"label\": \"1\"}", DataLayout.Siqa);
        Assert.Equal("Cameron decided to have a barbecue and gathered her friends together.\nHow would Others feel as a result?", ex.Question);
        Assert.Equal(0, ex.Answer);
        Assert.Equal(3, ex.Options.Count);
    }

    [Fact]
    public void HellaSwag_as_published_labels_from_zero()
    {
        var ex = One("{\"ind\": 4, \"activity_label\": \"Removing ice from car\", \"ctx_a\": \"Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.\", \"ctx_b\": \"then\", \"ctx\": \"Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles. then\", \"endings\": [\", the man adds wax to the windshield and cuts it.\", \", a person board a ski lift, while two men supporting the head of the person wearing winter clothes snow as the we girls sled.\", \", the man puts on a christmas coat, knitted with netting.\", \", the man continues removing the snow on his car.\"], \"source_id\": \"activitynet~v_-1IBHYS3L-Y\", \"split\": \"train\", \"split_type\": \"indomain\", \"label\": \"3\"}", DataLayout.HellaSwag);
        Assert.Equal(3, ex.Answer);
        Assert.Equal(4, ex.Options.Count);
    }

    [Fact]
    public void WinoGrande_as_published_labels_from_one()
    {
        var ex = One("{\"sentence\": \"Ian volunteered to eat Dennis's menudo after already having a bowl because _ despised eating intestine.\", \"option1\": \"Ian\", \"option2\": \"Dennis\", \"answer\": \"2\"}", DataLayout.WinoGrande);
        Assert.Equal(new[] { "Ian", "Dennis" }, ex.Options);
        Assert.Equal(1, ex.Answer);
    }

    [Fact]
    public void Invalid_json_names_the_line() => Refused("{\"text\": \"a\"}\n{\"text\": \"b\"\n", DataLayout.Text, 2, null, "line is not valid JSON at line 1");

    [Fact]
    public void Missing_field_names_the_layouts_fields() => Refused("{\"question\": \"q\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 0}", DataLayout.Piqa, 1, "goal", "is missing; the Piqa layout needs goal, sol1, sol2, label (0 or 1)");

    [Fact]
    public void Mistyped_field_is_named() => Refused("{\"text\": 5}", DataLayout.Text, 1, "text", "must be a string, got number 5");

    [Fact]
    public void Line_that_is_not_an_object_is_refused() => Refused("[\"text\"]", DataLayout.Text, 1, null, "must be a JSON object with text");

    [Fact]
    public void Duplicate_field_is_refused() => Refused("{\"text\": \"a\", \"text\": \"b\"}", DataLayout.Text, 1, null, "line names 'text' twice");

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        byte[] bytes = Encoding.UTF8.GetBytes("{\"text\": \"ok\"}\n{\"text\": \"b#d\"}");
        bytes[Array.IndexOf(bytes, (byte)'#')] = 0xFE;
        var e = Assert.Throws<DataFormatException>(() => JsonlReader.Parse(bytes, File, DataLayout.Text));
        Assert.Equal(2, e.Line);
        Assert.Contains("line is not valid UTF-8 (bad byte 0xFE at offset 11)", e.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n  \n\r\n")]
    public void Empty_file_is_refused(string content) => Refused(content, DataLayout.Arc, null, null, "has no data lines; a Arc file needs one JSON object per line with question, choices");

    [Fact]
    public void Label_out_of_range_is_refused() => Refused("{\"context\": \"c\", \"question\": \"q\", \"answerA\": \"a\", \"answerB\": \"b\", \"answerC\": \"c\", \"label\": \"4\"}", DataLayout.Siqa, 1, "label", "is 4, outside the labels 1..3 of the 3 options");

    [Fact]
    public void Generic_index_out_of_range_is_refused() => Refused("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}", DataLayout.MultipleChoice, 1, "answer", "selects option 2 but there are 2 options (0..1, A..B)");

    [Fact]
    public void Generic_answer_that_matches_nothing_is_refused() => Refused("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"zebra\"}", DataLayout.MultipleChoice, 1, "answer", "\"zebra\" is neither a letter A..B nor the text of one of the 2 choices");

    [Fact]
    public void Arc_answer_key_not_among_labels_is_refused() => Refused("{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], \"label\": [\"A\", \"B\"]}, \"answerKey\": \"E\"}", DataLayout.Arc, 1, "answerKey", "\"E\" is not one of the labels A, B");

    [Fact]
    public void Unpaired_labels_are_refused() => Refused("{\"question_stem\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], \"label\": [\"A\"]}, \"answerKey\": \"A\"}", DataLayout.OpenBookQA, 1, "choices.label", "has 1 labels for 2 texts");

    [Fact]
    public void Single_option_is_refused() => Refused("{\"ctx\": \"c\", \"endings\": [\"only\"], \"label\": 0}", DataLayout.HellaSwag, 1, "endings", "has 1 options; 2 to 26 are supported");

    /// <summary>The fuzzer's escape (seed 7): with no choices, an answer that is neither a letter nor an option's text
    /// used to name the letters A..Letter(-1) and threw ArgumentOutOfRangeException instead of the typed error.</summary>
    [Fact]
    public void Generic_answer_text_with_no_choices_is_refused_with_the_typed_error()
    {
        const string Line = "{\"question\": \"Odd one?\", \"choices\": [], \"answer\": \"3\"}";
        Refused(Line, DataLayout.MultipleChoice, 1, "choices", "has 0 options; 2 to 26 are supported");
        // As the fuzzer fed it: after an invalid line, strict (stops at line 1) and skipping bad lines (both skipped).
        string content = "{\"question\": \"Odd one?\", \"choices\": [\"2\", \"3\"], \"answer\": \"3\"\n" + Line + "\n";
        Refused(content, DataLayout.MultipleChoice, 1, null, "not valid JSON");
        var e = Assert.Throws<DataFormatException>(() => Read(content, DataLayout.MultipleChoice, skip: true));
        Assert.Contains("has no usable line: all 2 lines were malformed", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Generic_answer_text_with_too_many_choices_is_refused_with_the_typed_error()
    {
        string choices = string.Join(", ", Enumerable.Range(0, 27).Select(i => $"\"o{i}\""));
        Refused("{\"question\": \"q\", \"choices\": [" + choices + "], \"answer\": \"zebra\"}", DataLayout.MultipleChoice, 1, "choices", "has 27 options; 2 to 26 are supported");
    }

    [Fact]
    public void Empty_option_is_refused() => Refused("{\"sentence\": \"s _\", \"option1\": \" \", \"option2\": \"b\", \"answer\": \"1\"}", DataLayout.WinoGrande, 1, "option1", "is empty");

    [Fact]
    public void BoolQ_answer_must_be_boolean() => Refused("{\"question\": \"q\", \"passage\": \"p\", \"answer\": \"True\"}", DataLayout.BoolQ, 1, "answer", "must be true or false, got string \"True\"");

    [Fact]
    public void Skip_bad_lines_counts_and_keeps_the_errors()
    {
        DataFile d = Read("{\"text\": \"a\"}\nnot json\n{\"txt\": \"b\"}\n{\"text\": \"c\"}\n", DataLayout.Text, skip: true);
        Assert.Equal(new[] { 1, 4 }, d.Examples.Select(e => e.Line));
        Assert.Equal(2, d.SkippedLines);
        Assert.Equal(new int?[] { 2, 3 }, d.Errors.Select(e => e.Line));
        Assert.Equal("text", d.Errors[1].Field);
    }

    [Fact]
    public void Skip_bad_lines_still_refuses_a_file_with_no_good_line()
    {
        var e = Assert.Throws<DataFormatException>(() => Read("nope\n{}\n", DataLayout.Text, skip: true));
        Assert.Null(e.Line);
        Assert.Contains("has no usable line: all 2 lines were malformed", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Message_is_compiler_style()
    {
        var e = Refused("{\"text\": \"a\"}\n{\"text\": 1}", DataLayout.Text, 2, "text", "must be a string");
        Assert.Equal("train.jsonl:2: field 'text' must be a string, got number 1", e.Message);
        Assert.Equal("line 2, field 'text'", e.Item);
    }

    [Fact]
    public void Files_are_read_from_disk_and_a_missing_one_is_named()
    {
        using var dir = new MoeDsl.Runtime.Tests.IO.TempFolder();
        string path = dir.Write("piqa.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": \"1\"}\n");
        DataFile d = JsonlReader.Read(path, DataLayout.Piqa);
        Assert.Equal((path, 1), (d.File, ((MultipleChoiceExample)d.Examples[0]).Answer));
        var e = Assert.Throws<DataFormatException>(() => JsonlReader.Read(dir.File("nope.jsonl"), DataLayout.Piqa));
        Assert.Equal("file not found", e.Problem);
        Assert.Equal("is a folder; pass a .jsonl file", Assert.Throws<DataFormatException>(() => JsonlReader.Read(dir.Path, DataLayout.Piqa)).Problem);
    }

    [Fact]
    public void Task_names_select_layouts()
    {
        Assert.Equal(DataLayout.Arc, DataLayouts.Parse("ARC-E"));
        Assert.Equal(DataLayout.OpenBookQA, DataLayouts.Parse("openbookqa"));
        var e = Assert.Throws<ArgumentException>(() => DataLayouts.Parse("squad"));
        Assert.Contains("unknown task 'squad'; known: text, prompt-completion", e.Message, StringComparison.Ordinal);
    }
}
