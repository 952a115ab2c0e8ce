using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

#if MOEDSL_GENERATOR
namespace MoeDsl.Generator.Parsing
#else
namespace MoeDsl.Runtime.Declarations.Parsing
#endif
{
    /// <summary>A small strict JSON reader for a Hugging Face config.json (analyzers on netstandard2.0 cannot count on
    /// System.Text.Json being loadable). Reads the whole document; keeps the members of objects (nested ones too, such as
    /// rope_scaling) with the kind and text of their values.</summary>
    internal sealed class ConfigJson
    {
        /// <summary>A member: its JSON kind ("number", "string", "boolean", "object"...), the text of a number, string or
        /// boolean, and the members of an object.</summary>
        public readonly struct Member
        {
            public Member(string kind, string raw, Dictionary<string, Member>? members = null) { Kind = kind; Raw = raw; Members = members; }
            public string Kind { get; }
            public string Raw { get; }
            public Dictionary<string, Member>? Members { get; }
        }

        private readonly string text;
        private int pos;

        private ConfigJson(string text) { this.text = text; }

        /// <summary>Parses <paramref name="text"/>; returns null and an error message (with line and column) when invalid.</summary>
        public static Dictionary<string, Member>? Parse(string text, out string? error)
        {
            var reader = new ConfigJson(text);
            try
            {
                reader.SkipWhitespace();
                if (reader.Peek() != '{') throw reader.Fail("expected '{' at the start of the document");
                Dictionary<string, Member> members = reader.ReadObject(0);
                reader.SkipWhitespace();
                if (reader.pos < text.Length) throw reader.Fail("unexpected text after the end of the object");
                error = null;
                return members;
            }
            catch (FormatException e)
            {
                error = e.Message;
                return null;
            }
        }

        /// <summary>The member as an int, or why not.</summary>
        public static bool TryGetInt(Member m, out int value, out string? problem)
        {
            value = 0;
            if (m.Kind != "number") { problem = "must be an integer, got a " + m.Kind; return false; }
            if (!int.TryParse(m.Raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
            {
                problem = "must be an integer in the Int32 range, got " + m.Raw;
                return false;
            }
            problem = null;
            return true;
        }

        private FormatException Fail(string what)
        {
            int line = 1, column = 1;
            for (int i = 0; i < pos && i < text.Length; i++)
            {
                if (text[i] == '\n') { line++; column = 1; }
                else column++;
            }
            return new FormatException($"{what} (line {line}, column {column})");
        }

        private char Peek() => pos < text.Length ? text[pos] : '\0';

        private void SkipWhitespace()
        {
            while (pos < text.Length && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) pos++;
        }

        private void Expect(char c)
        {
            SkipWhitespace();
            if (Peek() != c) throw Fail(pos >= text.Length ? $"unexpected end of file, expected '{c}'" : $"expected '{c}' but found '{Peek()}'");
            pos++;
        }

        private Dictionary<string, Member> ReadObject(int depth)
        {
            if (depth > 64) throw Fail("nesting deeper than 64");
            Expect('{');
            var members = new Dictionary<string, Member>(StringComparer.Ordinal);
            SkipWhitespace();
            if (Peek() == '}') { pos++; return members; }
            while (true)
            {
                SkipWhitespace();
                if (Peek() != '"') throw Fail("expected a property name in double quotes");
                string key = ReadString();
                Expect(':');
                Member value = ReadValue(depth + 1);
                if (members.ContainsKey(key)) throw Fail($"duplicate property \"{key}\"");
                members[key] = value;
                SkipWhitespace();
                char c = Peek();
                pos++;
                if (c == '}') return members;
                if (c != ',') { pos--; throw Fail("expected ',' or '}'"); }
            }
        }

        private Member ReadValue(int depth)
        {
            SkipWhitespace();
            char c = Peek();
            switch (c)
            {
                case '{': return new Member("object", "", ReadObject(depth));
                case '[': ReadArray(depth); return new Member("array", "");
                case '"': return new Member("string", ReadString());
                case 't': ReadWord("true"); return new Member("boolean", "true");
                case 'f': ReadWord("false"); return new Member("boolean", "false");
                case 'n': ReadWord("null"); return new Member("null", "null");
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return new Member("number", ReadNumber());
                    throw Fail(pos >= text.Length ? "unexpected end of file" : $"unexpected character '{c}'");
            }
        }

        private void ReadArray(int depth)
        {
            if (depth > 64) throw Fail("nesting deeper than 64");
            Expect('[');
            SkipWhitespace();
            if (Peek() == ']') { pos++; return; }
            while (true)
            {
                ReadValue(depth + 1);
                SkipWhitespace();
                char c = Peek();
                pos++;
                if (c == ']') return;
                if (c != ',') { pos--; throw Fail("expected ',' or ']'"); }
            }
        }

        private void ReadWord(string word)
        {
            if (string.CompareOrdinal(text, pos, word, 0, word.Length) != 0) throw Fail($"unexpected token, expected '{word}'");
            pos += word.Length;
        }

        private string ReadNumber()
        {
            int start = pos;
            if (Peek() == '-') pos++;
            if (Peek() == '0') pos++;
            else if (Peek() >= '1' && Peek() <= '9') while (Peek() >= '0' && Peek() <= '9') pos++;
            else throw Fail("invalid number");
            if (Peek() == '.')
            {
                pos++;
                if (!(Peek() >= '0' && Peek() <= '9')) throw Fail("invalid number: digits expected after '.'");
                while (Peek() >= '0' && Peek() <= '9') pos++;
            }
            if (Peek() == 'e' || Peek() == 'E')
            {
                pos++;
                if (Peek() == '+' || Peek() == '-') pos++;
                if (!(Peek() >= '0' && Peek() <= '9')) throw Fail("invalid number: digits expected in the exponent");
                while (Peek() >= '0' && Peek() <= '9') pos++;
            }
            return text.Substring(start, pos - start);
        }

        private static int HexValue(char c)
            => c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

        private string ReadString()
        {
            pos++; // opening quote
            var sb = new StringBuilder();
            while (true)
            {
                if (pos >= text.Length) throw Fail("unterminated string");
                char c = text[pos++];
                if (c == '"') return sb.ToString();
                if (c < ' ') { pos--; throw Fail("control character in a string"); }
                if (c != '\\') { sb.Append(c); continue; }
                if (pos >= text.Length) throw Fail("unterminated string");
                char e = text[pos++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        int code = 0;
                        for (int k = 0; k < 4; k++)
                        {
                            int digit = pos + k < text.Length ? HexValue(text[pos + k]) : -1;
                            if (digit < 0) throw Fail("invalid \\u escape");
                            code = code * 16 + digit;
                        }
                        sb.Append((char)code);
                        pos += 4;
                        break;
                    default: pos--; throw Fail($"invalid escape '\\{e}'");
                }
            }
        }
    }
}
