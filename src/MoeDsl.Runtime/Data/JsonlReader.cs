using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using MoeDsl.Runtime.IO;

namespace MoeDsl.Runtime.Data;

/// <summary>How <see cref="JsonlReader"/> treats bad lines.</summary>
public sealed record JsonlReadOptions
{
    /// <summary>Count and skip malformed lines instead of stopping at the first (<c>--skip-bad-lines</c>). A file with no
    /// usable line is refused either way.</summary>
    public bool SkipBadLines { get; init; }
    /// <summary>Longest line accepted, in bytes (default 16 MiB); longer lines are malformed.</summary>
    public int MaxLineBytes { get; init; } = 16 << 20;
    /// <summary>How many skipped-line errors are kept for reporting (all are counted).</summary>
    public int KeepErrors { get; init; } = 20;
}

/// <summary>The usable examples of one data file and what was skipped.</summary>
/// <param name="File">The file.</param>
/// <param name="Layout">Its layout.</param>
/// <param name="Examples">The examples, in file order.</param>
/// <param name="SkippedLines">Malformed lines skipped (only with <see cref="JsonlReadOptions.SkipBadLines"/>).</param>
/// <param name="Errors">The first <see cref="JsonlReadOptions.KeepErrors"/> of those errors.</param>
public sealed record DataFile(string File, DataLayout Layout, IReadOnlyList<DataExample> Examples, int SkippedLines, IReadOnlyList<DataFormatException> Errors);

/// <summary>Reads JSON Lines data files: one JSON object per line, UTF-8 (a leading byte-order mark is allowed), blank
/// lines ignored, "\n" or "\r\n" line ends. Each line is checked against its <see cref="DataLayout"/>; a malformed line is
/// a <see cref="DataFormatException"/> naming the file, line and field, or, with
/// <see cref="JsonlReadOptions.SkipBadLines"/>, counted and skipped. A file without any usable line is refused.
/// <para>Answers. Generic multiple choice: <c>answer</c> is a JSON integer (0-based index), a one-letter string "A".."Z"
/// (letter of the option) or a string equal to one option's text (ordinal comparison); the letter reading wins when both
/// apply. ARC/OBQA: <c>answerKey</c> must equal one of <c>choices.label</c>. BoolQ: true is option 0 ("yes"), false option
/// 1 ("no"). PIQA label 0/1 and HellaSwag label are 0-based; SIQA label and WinoGrande answer are 1-based; these labels
/// may be JSON integers or strings of digits. Options must be non-empty strings, 2 to 26 of them.</para></summary>
public static class JsonlReader
{
    /// <summary>Reads a file.</summary>
    public static DataFile Read(string path, DataLayout layout, JsonlReadOptions? options = null)
    {
        if (!System.IO.File.Exists(path))
            throw new DataFormatException(path, null, null, Directory.Exists(path) ? "is a folder; pass a .jsonl file" : "file not found");
        byte[] bytes;
        try { bytes = System.IO.File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DataFormatException(path, null, null, $"cannot be read: {e.Message}"); }
        return Parse(bytes, path, layout, options);
    }

    /// <summary>Reads JSONL content held in memory; <paramref name="file"/> names it in errors.</summary>
    public static DataFile Parse(ReadOnlyMemory<byte> content, string file, DataLayout layout, JsonlReadOptions? options = null)
    {
        options ??= new JsonlReadOptions();
        var examples = new List<DataExample>();
        var errors = new List<DataFormatException>();
        int skipped = 0;
        ReadOnlySpan<byte> all = content.Span;
        int start = all.StartsWith(stackalloc byte[] { 0xEF, 0xBB, 0xBF }) ? 3 : 0;
        int first = start;
        while (first < all.Length && all[first] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') first++;
        if (first < all.Length && all[first] == (byte)'[')
        {
            foreach (var (element, line) in ArrayElements(content, first, file, options))
                Collect(() => ParseLine(element, file, line, layout), examples, errors, ref skipped, options);
            return Finish(file, layout, examples, errors, skipped);
        }
        int lineNumber = 0;
        while (start < content.Length)
        {
            lineNumber++;
            int newline = content.Span.Slice(start).IndexOf((byte)'\n');
            int end = newline < 0 ? content.Length : start + newline;
            ReadOnlyMemory<byte> line = content.Slice(start, end - start);
            start = end + 1;
            if (line.Length > 0 && line.Span[^1] == (byte)'\r') line = line.Slice(0, line.Length - 1);
            if (IsBlank(line.Span)) continue;
            try
            {
                if (line.Length > options.MaxLineBytes)
                    throw new DataFormatException(file, lineNumber, null, $"is {line.Length} bytes, longer than the {options.MaxLineBytes}-byte line limit");
                examples.Add(ParseLine(line, file, lineNumber, layout));
            }
            catch (DataFormatException e) when (options.SkipBadLines)
            {
                skipped++;
                if (errors.Count < options.KeepErrors) errors.Add(e);
            }
        }
        return Finish(file, layout, examples, errors, skipped);
    }

    private static void Collect(Func<DataExample> parse, List<DataExample> examples, List<DataFormatException> errors, ref int skipped, JsonlReadOptions options)
    {
        try { examples.Add(parse()); }
        catch (DataFormatException e) when (options.SkipBadLines)
        {
            skipped++;
            if (errors.Count < options.KeepErrors) errors.Add(e);
        }
    }

    /// <summary>The records of a JSON array file (<c>[{...}, {...}]</c>): each element's bytes and the 1-based line it
    /// starts on, which errors name. A syntax error in the array itself stops the file (it cannot be skipped).</summary>
    private static List<(ReadOnlyMemory<byte> Element, int Line)> ArrayElements(ReadOnlyMemory<byte> content, int start, string file, JsonlReadOptions options)
    {
        ReadOnlySpan<byte> span = content.Span;
        int bad = JsonInput.FirstInvalidUtf8(span);
        if (bad >= 0) throw new DataFormatException(file, LineAt(span, bad), null, $"is not valid UTF-8 (bad byte 0x{span[bad]:X2} at offset {bad})");
        var result = new List<(ReadOnlyMemory<byte>, int)>();
        var reader = new Utf8JsonReader(span.Slice(start), new JsonReaderOptions { MaxDepth = 17, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            reader.Read();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                int elementStart = start + (int)reader.TokenStartIndex;
                reader.Skip();
                int elementEnd = start + (int)reader.BytesConsumed;
                int line = LineAt(span, elementStart);
                if (elementEnd - elementStart > options.MaxLineBytes)
                    throw new DataFormatException(file, line, null, $"the record is {elementEnd - elementStart} bytes, longer than the {options.MaxLineBytes}-byte record limit");
                result.Add((content.Slice(elementStart, elementEnd - elementStart), line));
            }
            if (reader.TokenType != JsonTokenType.EndArray) throw new DataFormatException(file, LineAt(span, span.Length), null, "the JSON array is never closed with ']'");
            int rest = start + (int)reader.BytesConsumed;
            while (rest < span.Length && span[rest] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') rest++;
            if (rest < span.Length) throw new DataFormatException(file, LineAt(span, rest), null, "has content after the JSON array's closing ']'");
        }
        catch (JsonException e)
        {
            int line = e.LineNumber is long l ? (int)Math.Min(int.MaxValue, l + 1 + LineAt(span, start) - 1) : 1;
            throw new DataFormatException(file, line, null, $"the JSON array is not valid JSON: {e.Message.Split(" LineNumber", 2)[0]}");
        }
        return result;
    }

    private static int LineAt(ReadOnlySpan<byte> span, int offset)
    {
        int n = 1;
        foreach (byte b in span.Slice(0, Math.Min(offset, span.Length)))
            if (b == (byte)'\n') n++;
        return n;
    }

    private static DataFile Finish(string file, DataLayout layout, List<DataExample> examples, List<DataFormatException> errors, int skipped)
    {
        if (examples.Count == 0)
        {
            throw new DataFormatException(file, null, null, skipped == 0
                ? $"has no data lines; a {layout} file needs one JSON object per line with {DataLayouts.Fields(layout)}"
                : $"has no usable line: all {skipped} lines were malformed (first: {errors[0].Message})");
        }
        return new DataFile(file, layout, examples, skipped, errors);
    }

    private static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (byte b in line)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        return true;
    }

    /// <summary>Parses one line (exposed for tests and the fuzzer).</summary>
    internal static DataExample ParseLine(ReadOnlyMemory<byte> line, string file, int lineNumber, DataLayout layout)
    {
        JsonDocument doc;
        try { doc = JsonInput.Parse(line, file, $"line {lineNumber}", "line", maxDepth: 16); }
        catch (DataFormatException) { throw; }
        catch (ModelFormatException e) { throw new DataFormatException(file, lineNumber, null, e.Problem); }
        using (doc)
        {
            var r = new LineReader(doc.RootElement, file, lineNumber, layout);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new DataFormatException(file, lineNumber, null, $"must be a JSON object with {DataLayouts.Fields(layout)}, got {JsonInput.Describe(doc.RootElement)}");
            return layout switch
            {
                DataLayout.Text => new TextExample(lineNumber, r.String("text")),
                DataLayout.PromptCompletion => new PromptCompletionExample(lineNumber, r.String("prompt", allowEmpty: true), r.String("completion")),
                DataLayout.MultipleChoice => GenericChoice(r),
                DataLayout.Arc => LabelledChoice(r, r.String("question")),
                DataLayout.OpenBookQA => LabelledChoice(r, r.String("question_stem")),
                DataLayout.BoolQ => BoolQ(r),
                DataLayout.Piqa => r.Choice(r.String("goal"), new[] { r.String("sol1"), r.String("sol2") }, r.Label("label", firstLabel: 0, 2)),
                DataLayout.Siqa => r.Choice(r.String("context") + "\n" + r.String("question"),
                    new[] { r.String("answerA"), r.String("answerB"), r.String("answerC") }, r.Label("label", firstLabel: 1, 3)),
                DataLayout.HellaSwag => HellaSwag(r),
                DataLayout.WinoGrande => r.Choice(r.String("sentence"), new[] { r.String("option1"), r.String("option2") }, r.Label("answer", firstLabel: 1, 2)),
                DataLayout.Messages => Conversation(r, doc.RootElement),
                DataLayout.Alpaca => new PromptCompletionExample(lineNumber,
                    PromptFormat.Alpaca(r.String("instruction"), r.OptionalString("input")), r.String("output")),
                DataLayout.TokenIds => TokenIds(r, doc.RootElement),
                _ => throw new ArgumentOutOfRangeException(nameof(layout)),
            };
        }
    }

    /// <summary>Largest number of turns in one conversation.</summary>
    public const int MaxTurns = 10_000;

    private static ConversationExample Conversation(LineReader r, JsonElement root)
    {
        bool openAi = root.TryGetProperty("messages", out JsonElement list) && list.ValueKind != JsonValueKind.Null;
        string field = openAi ? "messages" : "conversations";
        if (!openAi && !(root.TryGetProperty("conversations", out list) && list.ValueKind != JsonValueKind.Null))
            throw r.Error("messages", "is missing; the Messages layout needs messages [{role, content}, ...] (OpenAI) or conversations [{from, value}, ...] (ShareGPT)");
        if (list.ValueKind != JsonValueKind.Array) throw r.Error(field, $"must be an array of turns, got {JsonInput.Describe(list)}");
        if (list.GetArrayLength() > MaxTurns) throw r.Error(field, $"has {list.GetArrayLength()} turns, more than {MaxTurns}");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (JsonElement turn in list.EnumerateArray())
        {
            string at = $"{field}[{i}]";
            if (turn.ValueKind != JsonValueKind.Object) throw r.Error(at, $"must be an object, got {JsonInput.Describe(turn)}");
            bool shareGpt = !turn.TryGetProperty("role", out _) && turn.TryGetProperty("from", out _);
            string roleKey = shareGpt ? "from" : "role", contentKey = shareGpt ? "value" : "content";
            if (!turn.TryGetProperty(roleKey, out JsonElement role) || role.ValueKind != JsonValueKind.String)
                throw r.Error($"{at}.{roleKey}", "must be a string: the turn's role (role/content as in OpenAI, or from/value as in ShareGPT)");
            if (!turn.TryGetProperty(contentKey, out JsonElement content) || content.ValueKind != JsonValueKind.String)
                throw r.Error($"{at}.{contentKey}", $"must be a string, got {(turn.TryGetProperty(contentKey, out JsonElement c) ? JsonInput.Describe(c) : "nothing")}");
            string name = role.GetString()!;
            string normalized = name switch
            {
                "system" or "user" or "assistant" or "tool" => name,
                "human" => "user",
                "gpt" => "assistant",
                _ => throw r.Error($"{at}.{roleKey}", $"is \"{Clip(name)}\"; roles are system, user, assistant, tool (ShareGPT: human, gpt)"),
            };
            messages.Add(new ChatMessage(normalized, content.GetString()!));
            i++;
        }
        if (!messages.Exists(m => m.Role == "assistant" && m.Content.Trim().Length > 0))
            throw r.Error(field, "has no assistant turn with content; a training conversation needs at least one answer to learn");
        return new ConversationExample(r.LineNumber, messages);
    }

    /// <summary>Longest pre-tokenized sequence accepted.</summary>
    public const int MaxTokenIds = 1 << 22;

    private static TokenIdsExample TokenIds(LineReader r, JsonElement root)
    {
        long[] ids = Ids(r, r.Required("input_ids"), "input_ids", allowIgnore: false);
        if (ids.Length == 0) throw r.Error("input_ids", "is empty");
        long[]? labels = null;
        if (root.TryGetProperty("labels", out JsonElement l) && l.ValueKind != JsonValueKind.Null)
        {
            labels = Ids(r, l, "labels", allowIgnore: true);
            if (labels.Length != ids.Length) throw r.Error("labels", $"has {labels.Length} entries for {ids.Length} input_ids; they must pair up");
        }
        return new TokenIdsExample(r.LineNumber, ids, labels);
    }

    private static long[] Ids(LineReader r, JsonElement e, string field, bool allowIgnore)
    {
        if (e.ValueKind != JsonValueKind.Array) throw r.Error(field, $"must be an array of token ids, got {JsonInput.Describe(e)}");
        if (e.GetArrayLength() > MaxTokenIds) throw r.Error(field, $"has {e.GetArrayLength()} ids, more than {MaxTokenIds}");
        var ids = new long[e.GetArrayLength()];
        int i = 0;
        foreach (JsonElement x in e.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out int id) || (id < 0 && !(allowIgnore && id == TrainingSequence.IgnoreIndex)))
                throw r.Error(field, $"entry {i} must be a token id (a non-negative integer{(allowIgnore ? ", or -100 for a token not learned" : "")}), got {JsonInput.Describe(x)}");
            ids[i++] = id;
        }
        return ids;
    }

    private static MultipleChoiceExample GenericChoice(LineReader r)
    {
        string question = r.String("question");
        string[] options = r.Strings(r.Required("choices"), "choices");
        // The count first: the answer's messages name the options' letters, which exist only for 1 to 26 options.
        r.CheckOptionCount(options);
        JsonElement answer = r.Required("answer");
        int index;
        if (answer.ValueKind == JsonValueKind.Number)
        {
            if (!answer.TryGetInt32(out index))
                throw r.Error("answer", $"must be a 0-based option index, a letter or an option's text, got {JsonInput.Describe(answer)}");
        }
        else if (answer.ValueKind == JsonValueKind.String)
        {
            string s = answer.GetString()!;
            if (s.Length == 1 && s[0] is >= 'A' and <= 'Z') index = s[0] - 'A';
            else
            {
                index = Array.IndexOf(options, s);
                if (index < 0) throw r.Error("answer", $"\"{Clip(s)}\" is neither a letter A..{PromptFormat.Letter(options.Length - 1)} nor the text of one of the {options.Length} choices");
            }
        }
        else throw r.Error("answer", $"must be a 0-based option index, a letter or an option's text, got {JsonInput.Describe(answer)}");
        return r.Choice(question, options, (index, "answer"));
    }

    private static MultipleChoiceExample LabelledChoice(LineReader r, string question)
    {
        JsonElement choices = r.Required("choices");
        if (choices.ValueKind != JsonValueKind.Object)
            throw r.Error("choices", $"must be an object {{\"text\": [...], \"label\": [...]}}, got {JsonInput.Describe(choices)}");
        if (!choices.TryGetProperty("text", out JsonElement text)) throw r.Error("choices.text", "is missing");
        if (!choices.TryGetProperty("label", out JsonElement label)) throw r.Error("choices.label", "is missing");
        string[] options = r.Strings(text, "choices.text");
        string[] labels = r.Strings(label, "choices.label");
        if (labels.Length != options.Length)
            throw r.Error("choices.label", $"has {labels.Length} labels for {options.Length} texts; they must pair up");
        for (int i = 0; i < labels.Length; i++)
            if (Array.IndexOf(labels, labels[i]) != i) throw r.Error("choices.label", $"names label \"{Clip(labels[i])}\" twice");
        string key = r.String("answerKey");
        int index = Array.IndexOf(labels, key);
        if (index < 0) throw r.Error("answerKey", $"\"{Clip(key)}\" is not one of the labels {string.Join(", ", labels)}");
        return r.Choice(question, options, (index, "answerKey"));
    }

    private static MultipleChoiceExample BoolQ(LineReader r)
    {
        string question = r.String("question");
        string passage = r.String("passage");
        JsonElement answer = r.Required("answer");
        if (answer.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            throw r.Error("answer", $"must be true or false, got {JsonInput.Describe(answer)}");
        return r.Choice(passage + "\n" + question, BoolQOptions, (answer.GetBoolean() ? 0 : 1, "answer"));
    }

    /// <summary>The options a BoolQ item is given, in this order.</summary>
    public static readonly string[] BoolQOptions = { "yes", "no" };

    private static MultipleChoiceExample HellaSwag(LineReader r)
    {
        string ctx = r.String("ctx");
        string[] endings = r.Strings(r.Required("endings"), "endings");
        return r.Choice(ctx, endings, r.Label("label", firstLabel: 0, endings.Length));
    }

    internal static string Clip(string s) => s.Length <= 40 ? s : string.Concat(s.AsSpan(0, 40), "...");

    private readonly struct LineReader
    {
        private readonly JsonElement root;
        private readonly string file;
        private readonly int line;
        private readonly DataLayout layout;

        public LineReader(JsonElement root, string file, int line, DataLayout layout)
        {
            this.root = root;
            this.file = file;
            this.line = line;
            this.layout = layout;
        }

        public DataFormatException Error(string field, string problem) => new(file, line, field, problem);

        public int LineNumber => line;

        /// <summary>A string field that may be absent or null (then null).</summary>
        public string? OptionalString(string field)
        {
            if (!root.TryGetProperty(field, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
            if (e.ValueKind != JsonValueKind.String) throw Error(field, $"must be a string, got {JsonInput.Describe(e)}");
            return e.GetString();
        }

        public JsonElement Required(string field)
        {
            if (!root.TryGetProperty(field, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
                throw Error(field, $"is missing; the {layout} layout needs {DataLayouts.Fields(layout)}");
            return e;
        }

        public string String(string field, bool allowEmpty = false)
        {
            JsonElement e = Required(field);
            if (e.ValueKind != JsonValueKind.String) throw Error(field, $"must be a string, got {JsonInput.Describe(e)}");
            string s = e.GetString()!;
            if (!allowEmpty && s.Trim().Length == 0) throw Error(field, "is empty");
            return s;
        }

        public string[] Strings(JsonElement e, string field)
        {
            if (e.ValueKind != JsonValueKind.Array) throw Error(field, $"must be an array of strings, got {JsonInput.Describe(e)}");
            var result = new string[e.GetArrayLength()];
            int i = 0;
            foreach (JsonElement x in e.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.String) throw Error(field, $"entry {i} must be a string, got {JsonInput.Describe(x)}");
                string s = x.GetString()!;
                if (s.Trim().Length == 0) throw Error(field, $"entry {i} is empty");
                result[i++] = s;
            }
            return result;
        }

        /// <summary>A label that numbers the options from <paramref name="firstLabel"/>: a JSON integer or a digit string.</summary>
        public (int Index, string Field) Label(string field, int firstLabel, int count)
        {
            JsonElement e = Required(field);
            long value;
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long n)) value = n;
            else if (e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 and <= 9 } s && IsDigits(s)) value = long.Parse(s, CultureInfo.InvariantCulture);
            else throw Error(field, $"must be an integer label {firstLabel}..{firstLabel + count - 1} (number or digit string), got {JsonInput.Describe(e)}");
            if (value < firstLabel || value >= firstLabel + count)
                throw Error(field, $"is {value}, outside the labels {firstLabel}..{firstLabel + count - 1} of the {count} options");
            return ((int)(value - firstLabel), field);
        }

        private static bool IsDigits(string s)
        {
            foreach (char c in s)
                if (c is < '0' or > '9') return false;
            return true;
        }

        /// <summary>Refuses fewer than 2 or more than <see cref="PromptFormat.MaxOptions"/> options.</summary>
        public void CheckOptionCount(string[] options)
        {
            if (options.Length < 2 || options.Length > PromptFormat.MaxOptions)
                throw Error(layout is DataLayout.HellaSwag ? "endings" : "choices", $"has {options.Length} options; 2 to {PromptFormat.MaxOptions} are supported");
        }

        public MultipleChoiceExample Choice(string question, string[] options, (int Index, string Field) answer)
        {
            CheckOptionCount(options);
            if (answer.Index < 0 || answer.Index >= options.Length)
                throw Error(answer.Field, $"selects option {answer.Index} but there are {options.Length} options (0..{options.Length - 1}, A..{PromptFormat.Letter(options.Length - 1)})");
            return new MultipleChoiceExample(line, question, options, answer.Index);
        }
    }
}
