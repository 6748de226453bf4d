import Foundation

/// Durations as people write them on the command line: `90s`, `5m`, `1h30m`, `2d`.
///
/// A bare number is not accepted: `30` could mean seconds or minutes, and a grace period
/// off by a factor of sixty is the kind of mistake that loses someone's session.
public enum DurationText {
    /// Parses `text` into seconds.
    /// - Throws: `CoreError` with code `invalid_duration` naming the accepted forms.
    public static func seconds(_ text: String) throws -> Int {
        let units: [Character: Int] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var total = 0
        var digits = ""
        var sawUnit = false
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if let unit = units[character], let value = Int(digits) {
                let (product, overflowA) = value.multipliedReportingOverflow(by: unit)
                let (sum, overflowB) = total.addingReportingOverflow(product)
                guard !overflowA, !overflowB else { throw Self.invalid(text) }
                total = sum
                digits = ""
                sawUnit = true
            } else {
                throw Self.invalid(text)
            }
        }
        guard sawUnit, digits.isEmpty else { throw Self.invalid(text) }
        return total
    }

    /// Renders seconds in the same notation, largest units first (`5400` → `1h30m`).
    public static func format(seconds: Int) -> String {
        guard seconds > 0 else { return "0s" }
        var rest = seconds
        var text = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }

    private static func invalid(_ text: String) -> CoreError {
        .invalidInput(
            "invalid_duration",
            "'\(text)' is not a duration; write it like 90s, 5m, 1h30m or 2d"
        )
    }
}

/// Byte counts as people read them: `512 B`, `4.2 kB`, `1.3 MB`, `2.0 GB` (powers of 1000).
public enum ByteText {
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
