using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace MoeDsl.Runtime.Data.Templates;

internal enum TokenKind { Text, OutputOpen, OutputClose, StatementOpen, StatementClose, Name, String, Integer, Float, Operator, End }

/// <summary>One lexical token; <see cref="Line"/> is the 1-based line in the original template.</summary>
internal readonly record struct Token(TokenKind Kind, string Value, int Line);

/// <summary>Turns template source into tokens the way transformers renders chat templates (Jinja2 with
/// <c>trim_blocks</c> and <c>lstrip_blocks</c>; @huggingface/jinja applies the same preprocessing): one trailing newline
/// of the source is dropped, spaces and tabs before a <c>{%</c> / <c>{#</c> at the start of a line are removed, a newline
/// right after <c>%}</c> / <c>#}</c> is removed, and <c>-</c> inside a delimiter strips the whitespace on that side.
/// Comments are dropped.</summary>
internal static class JinjaLexer
{
    private static readonly string[] Operators =
    {
        "**", "//", "==", "!=", "<=", ">=",
        "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|",
    };

    public static List<Token> Tokenize(string source, string name)
    {
        var (src, lines) = Preprocess(source);
        var tokens = new List<Token>();
        var text = new StringBuilder();
        int textLine = 1;
        bool stripNextText = false;
        int i = 0;
        while (i < src.Length)
        {
            if (src[i] == '{' && i + 1 < src.Length && src[i + 1] is '{' or '%' or '#')
            {
                char kind = src[i + 1];
                int openLine = lines[i];
                bool stripBefore = i + 2 < src.Length && src[i + 2] == '-';
                FlushText(tokens, text, textLine, stripBefore);
                i += stripBefore ? 3 : 2;
                if (kind == '#')
                {
                    int close = src.IndexOf("#}", i, StringComparison.Ordinal);
                    if (close < 0) throw new TemplateException(name, openLine, "comment '{#' is never closed with '#}'");
                    stripNextText = close > i && src[close - 1] == '-';
                    i = close + 2;
                }
                else
                {
                    tokens.Add(new Token(kind == '{' ? TokenKind.OutputOpen : TokenKind.StatementOpen, kind == '{' ? "{{" : "{%", openLine));
                    i = LexTag(src, lines, i, kind == '{' ? '}' : '%', tokens, name, openLine, out stripNextText);
                }
                continue;
            }
            if (stripNextText && IsSpace(src[i]))
            {
                i++;
                continue;
            }
            stripNextText = false;
            if (text.Length == 0) textLine = lines[i];
            text.Append(src[i]);
            i++;
        }
        FlushText(tokens, text, textLine, stripTrailing: false);
        tokens.Add(new Token(TokenKind.End, "", src.Length == 0 ? 1 : lines[^1]));
        return tokens;
    }

    /// <summary>JavaScript's and Python's <c>\s</c> (what the whitespace control strips).</summary>
    internal static bool IsSpace(char c) => char.IsWhiteSpace(c) || c == '\uFEFF';

    private static void FlushText(List<Token> tokens, StringBuilder text, int line, bool stripTrailing)
    {
        if (stripTrailing)
        {
            int n = text.Length;
            while (n > 0 && IsSpace(text[n - 1])) n--;
            text.Length = n;
        }
        if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text.ToString(), line));
        text.Clear();
    }

    private static int LexTag(string src, int[] lines, int i, char closer, List<Token> tokens, string name, int openLine, out bool stripAfter)
    {
        while (true)
        {
            while (i < src.Length && IsSpace(src[i])) i++;
            if (i >= src.Length) throw new TemplateException(name, openLine, closer == '}' ? "'{{' is never closed with '}}'" : "'{%' is never closed with '%}'");
            int line = lines[i];
            bool dash = src[i] == '-' && Closes(src, i + 1, closer);
            if (dash || Closes(src, i, closer))
            {
                stripAfter = dash;
                if (dash) i++;
                tokens.Add(new Token(closer == '}' ? TokenKind.OutputClose : TokenKind.StatementClose, closer == '}' ? "}}" : "%}", line));
                return i + 2;
            }
            char c = src[i];
            if (c is '\'' or '"')
            {
                i = LexString(src, i, tokens, name, line);
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                int start = i;
                while (i < src.Length && (char.IsAsciiDigit(src[i]) || src[i] == '_')) i++;
                bool isFloat = i + 1 < src.Length && src[i] == '.' && char.IsAsciiDigit(src[i + 1]);
                if (isFloat)
                {
                    i++;
                    while (i < src.Length && char.IsAsciiDigit(src[i])) i++;
                }
                string number = src[start..i].Replace("_", "", StringComparison.Ordinal);
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, number, line));
                continue;
            }
            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = i;
                while (i < src.Length && (char.IsAsciiLetterOrDigit(src[i]) || src[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Name, src[start..i], line));
                continue;
            }
            string? op = null;
            foreach (string o in Operators)
                if (string.CompareOrdinal(src, i, o, 0, o.Length) == 0) { op = o; break; }
            if (op is null) throw new TemplateException(name, line, $"unexpected character '{c}' inside a tag");
            tokens.Add(new Token(TokenKind.Operator, op, line));
            i += op.Length;
        }
    }

    private static bool Closes(string src, int i, char closer) => i + 1 < src.Length && src[i] == closer && src[i + 1] == '}';

    private static int LexString(string src, int i, List<Token> tokens, string name, int line)
    {
        char quote = src[i++];
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= src.Length) throw new TemplateException(name, line, "string literal is never closed");
            char c = src[i++];
            if (c == quote) break;
            if (c != '\\') { sb.Append(c); continue; }
            if (i >= src.Length) throw new TemplateException(name, line, "string literal ends in a backslash");
            char e = src[i++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case 'x' or 'u':
                {
                    int length = e == 'x' ? 2 : 4;
                    if (i + length > src.Length || !int.TryParse(src.AsSpan(i, length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
                        throw new TemplateException(name, line, $"invalid escape '\\{e}' in a string literal");
                    sb.Append((char)code);
                    i += length;
                    break;
                }
                default: sb.Append('\\').Append(e); break;
            }
        }
        tokens.Add(new Token(TokenKind.String, sb.ToString(), line));
        return i;
    }

    /// <summary>trim_blocks / lstrip_blocks and the dropped final newline, keeping each remaining character's original
    /// line.</summary>
    private static (string Text, int[] Lines) Preprocess(string source)
    {
        if (source.EndsWith('\n')) source = source[..^1];
        var chars = new List<char>(source.Length);
        var lines = new List<int>(source.Length);
        int line = 1;
        bool lineStart = true;
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (lineStart)
            {
                int j = i;
                while (j < source.Length && source[j] is ' ' or '\t') j++;
                if (j + 1 < source.Length && source[j] == '{' && source[j + 1] is '#' or '%' or '-')
                {
                    i = j;
                    c = source[i];
                }
            }
            lineStart = c is '\n' or '\r' or '\u2028' or '\u2029';
            chars.Add(c);
            lines.Add(line);
            if (c == '\n') line++;
        }
        // trim_blocks: a newline right after "%}" or "#}" (or "-}", as the reference's pattern has it) is removed; like a
        // global regex replace, the matches do not overlap.
        var text = new List<char>(chars.Count);
        var map = new List<int>(chars.Count);
        int consumed = 0;
        for (int i = 0; i < chars.Count; i++)
        {
            if (chars[i] == '\n' && i - 2 >= consumed && chars[i - 1] == '}' && chars[i - 2] is '#' or '%' or '-')
            {
                consumed = i + 1;
                continue;
            }
            text.Add(chars[i]);
            map.Add(lines[i]);
        }
        return (new string(text.ToArray()), map.ToArray());
    }
}
