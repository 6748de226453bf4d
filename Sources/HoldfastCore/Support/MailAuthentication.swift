import Foundation

/// Whether the receiving MTA vouched for a mail's `From:` (RFC 8601 `Authentication-Results`).
///
/// Only results stamped by an MTA the operator named (`mail-gate --trust-authserv-id`) count,
/// and only the topmost such header: that MTA adds its own above whatever the sender wrote, and
/// should remove look-alikes (an attacker can write any header, including one with our MTA's
/// name further down). The `From:` domain is verified by any of these, aligned with it:
/// `dmarc=pass header.from=D`, `dkim=pass header.d=D` (D the From domain or a parent of it), or
/// `spf=pass smtp.mailfrom=…@D`.
public enum MailAuthentication {
    public static func fromIsVerified(_ message: MailMessage, trusting authservIDs: Set<String>) -> Bool {
        guard !authservIDs.isEmpty, let fromDomain = self.domain(of: message.from.address) else { return false }
        let trusted = Set(authservIDs.map { $0.lowercased() })
        guard
            let header = message.authenticationResults.first(where: { header in
                self.authservID(of: header).map(trusted.contains) ?? false
            })
        else { return false }
        for result in self.results(of: header) where result.value == "pass" {
            switch result.method {
            case "dmarc":
                if result.properties["header.from"] == fromDomain { return true }
            case "dkim":
                if let signer = result.properties["header.d"], fromDomain == signer || fromDomain.hasSuffix("." + signer) { return true }
            case "spf":
                if let mailFrom = result.properties["smtp.mailfrom"], self.domain(of: mailFrom) ?? mailFrom == fromDomain { return true }
            default:
                continue
            }
        }
        return false
    }

    /// `mx.example.com` of `mx.example.com 1; dkim=pass …` (the version is optional).
    static func authservID(of header: String) -> String? {
        let first = self.withoutComments(header).split(separator: ";", maxSplits: 1).first ?? ""
        return first.split(whereSeparator: \.isWhitespace).first.map { $0.lowercased() }
    }

    struct Result {
        var method: String
        var value: String
        var properties: [String: String]
    }

    /// The `method=result prop=value …` items after the authserv-id.
    static func results(of header: String) -> [Result] {
        self.withoutComments(header).split(separator: ";").dropFirst().compactMap { item in
            let words = item.split(whereSeparator: \.isWhitespace)
            guard let first = words.first, let equals = first.firstIndex(of: "=") else { return nil }
            var properties: [String: String] = [:]
            for word in words.dropFirst() {
                guard let sign = word.firstIndex(of: "=") else { continue }
                let value = word[word.index(after: sign)...].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                properties[word[..<sign].lowercased()] = value.lowercased()
            }
            return Result(
                method: first[..<equals].lowercased(), value: first[first.index(after: equals)...].lowercased(), properties: properties)
        }
    }

    /// The text with `( … )` comments removed (they may nest).
    static func withoutComments(_ text: String) -> String {
        var depth = 0
        var kept = ""
        for character in text {
            if character == "(" {
                depth += 1
            } else if character == ")", depth > 0 {
                depth -= 1
            } else if depth == 0 {
                kept.append(character)
            }
        }
        return kept
    }

    static func domain(of address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let domain = address[address.index(after: at)...].lowercased()
        return domain.isEmpty ? nil : domain
    }
}
