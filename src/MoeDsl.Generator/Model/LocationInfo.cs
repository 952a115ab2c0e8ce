using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MoeDsl.Generator.Model
{
    /// <summary>A source location as plain data (file, span, line span), so diagnostics can be cached without holding a
    /// syntax tree.</summary>
    internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
    {
        public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

        public static LocationInfo? From(SyntaxNode? node)
            => node is null ? null : From(node.GetLocation());

        public static LocationInfo? From(Location? location)
        {
            if (location is null || location.SourceTree is null) return null;
            return new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
        }

        /// <summary>The span covering both locations (they must be in the same file).</summary>
        public LocationInfo Through(LocationInfo last)
            => new LocationInfo(FilePath, TextSpan.FromBounds(Span.Start, last.Span.End), new LinePositionSpan(LineSpan.Start, last.LineSpan.End));
    }
}
