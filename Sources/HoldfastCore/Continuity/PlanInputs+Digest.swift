import Foundation

extension PlanInputs {
    /// The inputs as canonical JSON: keys sorted, dates as seconds since 1970, together with the generator's
    /// ``ContinuityPlanGenerator/templateVersion``.
    ///
    /// The same inputs always give the same bytes (arrays keep their order, so reordering the escalation list
    /// is a change, as it should be), and any change of an input changes them. The template version is part of
    /// it so that rewording the plans in code also makes a new version of every plan.
    public func canonicalEncoding() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // `String(Double)` is exact and never throws (unlike the number strategies on an infinite date).
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(String(date.timeIntervalSince1970))
        }
        // Only strings, integers, booleans and the dates above are encoded, none of which can fail.
        return try! encoder.encode(Canonical(template: ContinuityPlanGenerator.templateVersion, inputs: self))
    }

    /// A short fingerprint of ``canonicalEncoding()``: `fnv1a64:` and 16 hex digits.
    ///
    /// The core has no SHA-256 (it imports Foundation only), and none is needed: the digest only tells the app
    /// whether the inputs changed since the stored version, nobody gains by forging a collision, and FNV-1a
    /// over 64 bits makes an accidental one vanishingly unlikely. A caller that wants certainty can compare
    /// the canonical bytes themselves.
    public var digest: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in self.canonicalEncoding() {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "fnv1a64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    private struct Canonical: Encodable {
        var template: Int
        var inputs: PlanInputs
    }
}
