using System.Text;

namespace MoeDsl.Generator.Emitting
{
    /// <summary>Writes C# with four-space indentation and '\n' line ends.</summary>
    internal sealed class SourceWriter
    {
        private readonly StringBuilder builder = new StringBuilder();
        private int indent;

        public void Line(string text = "")
        {
            if (text.Length > 0) builder.Append(' ', indent * 4).Append(text);
            builder.Append('\n');
        }

        public void Open(string header)
        {
            Line(header);
            Line("{");
            indent++;
        }

        public void Close(string suffix = "")
        {
            indent--;
            Line("}" + suffix);
        }

        public void Indent() => indent++;

        public void Unindent() => indent--;

        public override string ToString() => builder.ToString();
    }
}
