import Foundation

/// A plan as a complete HTML document (`holdfast plan render --format html`, `Accept: text/html`).
///
/// It stands alone — no scripts, no external style sheets or fonts — so it can be saved, mailed or archived
/// and still read the same. The print style sheet turns the browser's "Print to PDF" into a clean document:
/// no contents panel, each top-level section on a new page, black on white, and the address of every link
/// written out. Every piece of text is escaped; section bodies are rendered from the ``PlanText`` dialect, so
/// no data can inject markup. The same plan always gives the same bytes.
public enum PlanHTML {
    public static func render(_ plan: ContinuityPlan, tenantName: String) -> String {
        let title = "\(plan.kind.title): \(tenantName)"
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(XMLText.escaped(title)) (version \(plan.version))</title>
            <style>
            \(Self.styleSheet)
            </style>
            </head>
            <body>
            <header>
            <h1>\(XMLText.escaped(title))</h1>
            <dl class="facts">

            """
        for fact in plan.summary {
            html += "<dt>\(XMLText.escaped(fact.label))</dt><dd>\(XMLText.escaped(fact.value))</dd>\n"
        }
        html += "</dl>\n</header>\n<nav aria-label=\"Contents\">\n<h2>Contents</h2>\n<ul class=\"toc\">\n"
        for (index, section) in plan.sections.enumerated() {
            let link = "<a href=\"#\(XMLText.escaped(section.anchor))\">\(XMLText.escaped(section.title))</a>"
            let nextLevel = index + 1 < plan.sections.count ? plan.sections[index + 1].level : 1
            if section.level == 1 {
                html += nextLevel == 2 ? "<li>\(link)\n<ul>\n" : "<li>\(link)</li>\n"
            } else {
                html += "<li>\(link)</li>\n" + (nextLevel == 1 ? "</ul>\n</li>\n" : "")
            }
        }
        html += "</ul>\n</nav>\n<main>\n"
        for (index, section) in plan.sections.enumerated() {
            let heading = section.level == 1 ? "h2" : "h3"
            html += "<section id=\"\(XMLText.escaped(section.anchor))\" class=\"level-\(section.level)\">\n"
            html += "<\(heading)>\(XMLText.escaped(section.title))</\(heading)>\n"
            html += Self.blocks(section.body)
            let nextLevel = index + 1 < plan.sections.count ? plan.sections[index + 1].level : 1
            // A top-level section encloses its subsections, so a page break keeps them together.
            if section.level == 2 || nextLevel == 1 { html += "</section>\n" }
            if section.level == 2 && nextLevel == 1 { html += "</section>\n" }
        }
        html += "</main>\n<footer>\(XMLText.escaped(plan.kind.title)), version \(plan.version), generated "
        html += "\(XMLText.escaped(PlanText.instant(plan.generatedAt))).</footer>\n</body>\n</html>\n"
        return html
    }

    /// Screen: a readable column. Print: the document alone, as the docstring of ``PlanHTML`` describes.
    static let styleSheet = """
        body { font-family: system-ui, sans-serif; line-height: 1.5; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; }
        h1 { font-size: 1.8rem; }
        h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
        dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
        dl.facts dt { font-weight: bold; }
        dl.facts dd { margin: 0; }
        nav { border: 1px solid #ccc; padding: 0 1rem 1rem; margin: 1.5rem 0; }
        ul.toc, ul.toc ul { list-style: none; padding-left: 1.2rem; }
        code { font-family: ui-monospace, monospace; font-size: 0.9em; background: #f3f3f3; padding: 0 0.2em; overflow-wrap: anywhere; }
        footer { margin-top: 3rem; font-size: 0.85rem; color: #555; }
        @page { margin: 18mm; }
        @media print {
          nav { display: none; }
          body { color: #000; background: #fff; max-width: none; margin: 0; padding: 0; font-size: 11pt; }
          main > section { break-before: page; page-break-before: always; }
          h2, h3 { break-after: avoid; page-break-after: avoid; border-color: #000; }
          p, li { orphans: 3; widows: 3; }
          a { color: #000; text-decoration: underline; }
          a[href]::after { content: " (" attr(href) ")"; font-size: 0.9em; }
          code { background: none; color: #000; }
          footer { color: #000; }
        }
        """

    /// A body in the ``PlanText`` dialect as HTML blocks: lists and paragraphs.
    static func blocks(_ body: String) -> String {
        var html = ""
        var block: [Substring] = []
        let lines: [Substring] = body.split(separator: "\n", omittingEmptySubsequences: false) + [""]
        for line in lines {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if !block.isEmpty { html += Self.block(block) }
                block = []
            } else {
                block.append(line)
            }
        }
        return html
    }

    private static func block(_ lines: [Substring]) -> String {
        if lines.allSatisfy({ $0.hasPrefix("- ") }) {
            return "<ul>\n" + lines.map { "<li>\(Self.inline($0.dropFirst(2)))</li>\n" }.joined() + "</ul>\n"
        }
        let numbered = lines.map { line -> Substring? in
            let digits = line.prefix { $0.isASCII && $0.isNumber }
            let rest = line.dropFirst(digits.count)
            return !digits.isEmpty && rest.hasPrefix(". ") ? rest.dropFirst(2) : nil
        }
        if numbered.allSatisfy({ $0 != nil }) {
            return "<ol>\n" + numbered.map { "<li>\(Self.inline($0!))</li>\n" }.joined() + "</ol>\n"
        }
        return "<p>\(Self.inline(Substring(lines.joined(separator: " "))))</p>\n"
    }

    /// Running text: backslash escapes, code spans and `<http(s)://…>` autolinks; everything else escaped.
    static func inline(_ text: Substring) -> String {
        var html = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "\\", next < text.endIndex, text[next].isASCII, text[next].isPunctuation || text[next].isSymbol {
                html += XMLText.escaped(String(text[next]))
                index = text.index(after: next)
            } else if character == "`" {
                let fence = text[index...].prefix { $0 == "`" }
                if let (code, end) = Self.codeSpan(in: text, after: fence.endIndex, fenceLength: fence.count) {
                    html += "<code>\(XMLText.escaped(code))</code>"
                    index = end
                } else {
                    html += String(fence)
                    index = fence.endIndex
                }
            } else if character == "<", let close = text[next...].firstIndex(of: ">"), PlanText.isLinkable(String(text[next..<close])) {
                let url = XMLText.escaped(String(text[next..<close]))
                html += "<a href=\"\(url)\">\(url)</a>"
                index = text.index(after: close)
            } else {
                html += XMLText.escaped(String(character))
                index = next
            }
        }
        return html
    }

    /// The content of a code span whose opening fence ends at `start`, and the index after its closing fence:
    /// the next run of exactly `fenceLength` backticks closes it (CommonMark), one padding space is dropped
    /// from each end when both are there.
    private static func codeSpan(in text: Substring, after start: Substring.Index, fenceLength: Int) -> (String, Substring.Index)? {
        var index = start
        while index < text.endIndex {
            guard text[index] == "`" else {
                index = text.index(after: index)
                continue
            }
            let run = text[index...].prefix { $0 == "`" }
            if run.count == fenceLength {
                var content = text[start..<index]
                if content.count >= 2, content.first == " ", content.last == " ", content.contains(where: { $0 != " " }) {
                    content = content.dropFirst().dropLast()
                }
                return (String(content), run.endIndex)
            }
            index = run.endIndex
        }
        return nil
    }

}
