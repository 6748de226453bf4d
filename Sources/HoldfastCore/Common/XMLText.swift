/// Text made safe for XML and HTML: element content and quoted attribute values.
public enum XMLText {
    /// `& < > " '` as entities, and characters XML 1.0 cannot carry (most control characters,
    /// U+FFFE, U+FFFF) dropped, so no stored text can break a feed, a chart or a page.
    public static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: continue
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
