import Foundation

/// The small Markdown dialect of plan section bodies, and the quoting that keeps data from changing it.
///
/// A body is plain text that reads well as Markdown and that ``PlanHTML`` can render without a Markdown
/// library: blocks separated by a blank line; a block whose lines all start with `- ` is a bullet list, one
/// whose lines all start with `N. ` a numbered list, anything else a paragraph; inside text, `` `code` `` spans
/// (CommonMark rules: a run of backticks closes at the next run of the same length) and backslash escapes of
/// ASCII punctuation. Nothing else — no raw HTML, no links other than `<https://…>` autolinks the generator writes
/// itself. Everything that comes from data (names, paths, failures) goes through ``escaped(_:)`` or ``code(_:)``,
/// so a troubleshooter called `<script>` or `*boss*` is shown exactly as typed in every renderer.
public enum PlanText {
    /// The characters escaped in running text: those that could start markup in the dialect or in a
    /// Markdown renderer the plan is pasted into (emphasis, code, links, raw HTML, entities, headings, tables).
    static let escapedCharacters: Set<Character> = ["\\", "`", "*", "_", "[", "]", "<", ">", "#", "|", "~", "&", "!"]

    /// `text` as one line of running text: markup characters backslash-escaped, line breaks made spaces, and a
    /// leading `-` or `+` escaped so it cannot start a list.
    public static func escaped(_ text: String) -> String {
        var output = ""
        for character in text {
            if character.isNewline {
                output.append(" ")
            } else if Self.escapedCharacters.contains(character) || (output.isEmpty && (character == "-" || character == "+")) {
                output.append("\\")
                output.append(character)
            } else {
                output.append(character)
            }
        }
        return output
    }

    /// `text` as a code span: fenced by one more backtick than the longest run inside it, padded with a space
    /// when it starts or ends with a backtick (the CommonMark rule), line breaks made spaces.
    public static func code(_ text: String) -> String {
        let line = String(text.map { $0.isNewline ? " " : $0 })
        var longest = 0
        var run = 0
        for character in line {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let padded =
            line.hasPrefix("`") || line.hasSuffix("`") || (line.hasPrefix(" ") && line.hasSuffix(" ") && line.contains { $0 != " " })
        return padded ? "\(fence) \(line) \(fence)" : "\(fence)\(line)\(fence)"
    }

    /// One shell word: left bare when it only holds characters no shell treats specially, else single-quoted.
    ///
    /// Commands in a plan are copied into a terminal during an incident; a path with a space must not become
    /// two arguments there.
    public static func shellWord(_ text: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")
        guard text.isEmpty || !text.allSatisfy(safe.contains) else { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A URL with any `user[:password]@` before its host removed (`s3:https://k:s@host/b` → `s3:https://host/b`).
    public static func withoutUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authorityEnd = url[scheme.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? url.endIndex
        guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + String(url[url.index(after: at)...])
    }

    /// A notice period or reminder as people say it: whole hours up to three days as hours (`24h`, not `1d`),
    /// anything else in ``DurationText`` notation.
    static func duration(_ seconds: Int) -> String {
        seconds > 0 && seconds % 3_600 == 0 && seconds <= 72 * 3_600 ? "\(seconds / 3_600)h" : DurationText.format(seconds: seconds)
    }

    /// An instant as ISO 8601 in UTC (`2026-11-30T12:00:00Z`): unambiguous to anyone reading a printed plan,
    /// in any zone, years later (the support desk's `SupportTimeText` leaves out the year).
    static func instant(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// Whether `text` is an `http(s)` URL that can be written as an autolink `<…>` and followed safely.
    static func isLinkable(_ text: String) -> Bool {
        (text.hasPrefix("https://") || text.hasPrefix("http://")) && text.count > 8
            && !text.contains { $0.isWhitespace || $0.isNewline || "<>\"'`\\".contains($0) }
            && Self.withoutUserInfo(text) == text
    }
}
