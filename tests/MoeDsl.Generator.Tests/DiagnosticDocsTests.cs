using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using MoeDsl.Generator.Diagnostics;
using MoeDsl.Tests;

namespace MoeDsl.Generator.Tests;

/// <summary>docs/diagnostics.md, the descriptor catalog and AnalyzerReleases.*.md describe the same ids, and every
/// descriptor's help link leads to its own section of the docs.</summary>
public class DiagnosticDocsTests
{
    private static readonly Regex IdPattern = new("^MOE[0-9]{3}$", RegexOptions.CultureInvariant);

    private static string DocsPath => Path.Combine(TestPaths.RepoRoot, DiagnosticDescriptors.HelpDocument);

    /// <summary>The ATX headings ("## Title") of a Markdown text outside fenced code blocks.</summary>
    internal static List<string> Headings(string markdown)
    {
        var headings = new List<string>();
        bool inFence = false;
        foreach (string raw in markdown.Replace("\r\n", "\n").Split('\n'))
        {
            string line = raw.TrimStart();
            if (line.StartsWith("```", StringComparison.Ordinal) || line.StartsWith("~~~", StringComparison.Ordinal)) { inFence = !inFence; continue; }
            if (inFence || raw.StartsWith("    ", StringComparison.Ordinal)) continue;
            Match m = Regex.Match(line, "^#{1,6}[ \t]+(.*?)[ \t#]*$");
            if (m.Success) headings.Add(m.Groups[1].Value);
        }
        return headings;
    }

    /// <summary>GitHub's anchors for the headings of one page: lower case, punctuation other than '-' and '_' removed,
    /// spaces to '-', and "-1", "-2"... appended to repeats.</summary>
    internal static List<string> GitHubAnchors(IEnumerable<string> headings)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var anchors = new List<string>();
        foreach (string heading in headings)
        {
            var sb = new StringBuilder();
            foreach (char c in heading.ToLowerInvariant())
            {
                if (char.IsLetterOrDigit(c) || c == '-' || c == '_') sb.Append(c);
                else if (c == ' ') sb.Append('-');
            }
            string slug = sb.ToString();
            int n = seen.TryGetValue(slug, out int count) ? count : 0;
            seen[slug] = n + 1;
            anchors.Add(n == 0 ? slug : $"{slug}-{n}");
        }
        return anchors;
    }

    /// <summary>The rule ids that AnalyzerReleases.Shipped.md and .Unshipped.md leave in force: added or changed in some
    /// release and not removed in a later section.</summary>
    private static SortedSet<string> ReleaseIds()
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string file in new[] { "AnalyzerReleases.Shipped.md", "AnalyzerReleases.Unshipped.md" })
        {
            bool removing = false;
            foreach (string line in File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "src", "MoeDsl.Generator", file)))
            {
                if (line.StartsWith("###", StringComparison.Ordinal)) { removing = line.Contains("Removed", StringComparison.Ordinal); continue; }
                string first = line.Split('|')[0].Trim();
                if (!IdPattern.IsMatch(first)) continue;
                if (removing) ids.Remove(first); else ids.Add(first);
            }
        }
        return ids;
    }

    [Fact]
    public void EveryHelpLinkPointsAtItsOwnHeadingInTheDocs()
    {
        Assert.True(File.Exists(DocsPath), $"{DocsPath} does not exist");
        List<string> anchors = GitHubAnchors(Headings(File.ReadAllText(DocsPath)));
        Assert.NotEmpty(DiagnosticCatalog.All);
        foreach (DiagnosticDescriptor d in DiagnosticCatalog.All)
        {
            string link = d.HelpLinkUri;
            int hash = link.IndexOf('#');
            Assert.True(hash > 0, $"{d.Id}: help link '{link}' has no anchor");
            Assert.Equal(DiagnosticDescriptors.HelpDocument, link.Substring(0, hash));
            string anchor = link.Substring(hash + 1);
            Assert.Equal(d.Id.ToLowerInvariant(), anchor);   // its own section, not a shared one
            Assert.True(anchors.Count(a => a == anchor) == 1, $"{d.Id}: {DiagnosticDescriptors.HelpDocument} has {anchors.Count(a => a == anchor)} headings with anchor #{anchor}");
        }
    }

    [Fact]
    public void DocsCatalogAndReleaseFilesListTheSameIds()
    {
        var catalog = new SortedSet<string>(DiagnosticCatalog.All.Select(d => d.Id), StringComparer.Ordinal);
        Assert.Equal(DiagnosticCatalog.All.Count, catalog.Count);   // no id declared twice
        List<string> idHeadings = Headings(File.ReadAllText(DocsPath)).Where(h => IdPattern.IsMatch(h)).ToList();
        Assert.Equal(idHeadings.Count, idHeadings.Distinct().Count());   // one section per id
        AssertSameIds(catalog, idHeadings, "docs/diagnostics.md headings");
        AssertSameIds(catalog, ReleaseIds(), "AnalyzerReleases.*.md");
        // README's diagnostics table: one row "| MOE0xx | Severity | title | ..." per id.
        string[] readmeRows = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "README.md"))
            .Where(l => Regex.IsMatch(l, "^\\| MOE[0-9]{3} \\|")).ToArray();
        List<string> readmeIds = readmeRows.Select(l => l.Split('|')[1].Trim()).ToList();
        Assert.Equal(readmeIds.Count, readmeIds.Distinct().Count());
        AssertSameIds(catalog, readmeIds, "README.md's diagnostics table");
        foreach (DiagnosticDescriptor d in DiagnosticCatalog.All)
        {
            string[] cells = readmeRows.Single(l => l.Split('|')[1].Trim() == d.Id).Split('|');
            Assert.Equal((d.DefaultSeverity.ToString(), d.Title.ToString(System.Globalization.CultureInfo.InvariantCulture)), (cells[2].Trim(), cells[3].Trim()));
        }
    }

    private static void AssertSameIds(IEnumerable<string> catalog, IEnumerable<string> other, string where)
    {
        string[] missing = catalog.Except(other).ToArray(), extra = other.Except(catalog).ToArray();
        Assert.True(missing.Length == 0 && extra.Length == 0,
            $"{where}: missing [{string.Join(", ", missing)}], not in the catalog [{string.Join(", ", extra)}]");
    }

    /// <summary>Each section states the severity the catalog gives the id (its first paragraph is "**Error**: title").</summary>
    [Fact]
    public void EachSectionStatesTheCatalogSeverityAndTitle()
    {
        string[] lines = File.ReadAllLines(DocsPath);
        foreach (DiagnosticDescriptor d in DiagnosticCatalog.All)
        {
            int at = Array.FindIndex(lines, l => l.TrimEnd() == "### " + d.Id);
            Assert.True(at >= 0, $"no section '### {d.Id}'");
            string first = lines.Skip(at + 1).First(l => l.Trim().Length > 0).Trim();
            Assert.Equal($"**{d.DefaultSeverity}**: {d.Title}", first);
        }
    }

    [Theory]
    [InlineData("MOE013", "moe013")]
    [InlineData("FeedForward placement and the FFN targets (MOE035, MOE036)", "feedforward-placement-and-the-ffn-targets-moe035-moe036")]
    [InlineData("Notes on the warnings", "notes-on-the-warnings")]
    [InlineData("[Router] and `TopK` go_together!", "router-and-topk-go_together")]
    public void AnchorsAreComputedAsGitHubDoes(string heading, string anchor)
        => Assert.Equal(anchor, GitHubAnchors(new[] { heading }).Single());

    [Fact]
    public void RepeatedHeadingsGetNumberedAnchorsAndFencedLinesAreNoHeadings()
    {
        List<string> headings = Headings("# A\n```\n# not a heading\n```\n## A\n### B ##\nplain # text\n");
        Assert.Equal(new[] { "A", "A", "B" }, headings);
        Assert.Equal(new[] { "a", "a-1", "b" }, GitHubAnchors(headings));
    }
}
