import Foundation

/// A person to call when a tenant's service is disrupted; a plan lists them in escalation order.
///
/// The list is kept by the operator (`PUT /tenants/{slug}/troubleshooters`) and is an input of both
/// continuity plans: changing a number or the order makes a new plan version.
public struct Troubleshooter: Sendable, Codable, Hashable {
    /// The person's name, e.g. "Ann Lee".
    public var name: String
    /// What they do in an incident, e.g. "On-call operator" or "Head of IT".
    public var role: String
    /// Lower-cased when validated; `nil` when they are reached by phone only.
    public var email: String?
    /// `+` and 7 to 15 digits when validated (`+442079460000`); `nil` when they are reached by e-mail only.
    public var phone: String?

    public init(name: String, role: String, email: String? = nil, phone: String? = nil) {
        self.name = name
        self.role = role
        self.email = email
        self.phone = phone
    }

    /// The most people an escalation list holds: beyond ten, nobody reads to the end during an incident.
    public static let maximumCount = 10

    /// Checks an escalation list from untrusted input and returns it normalised, in the same order.
    ///
    /// The order is the escalation order, so it is kept as given. Two entries with the same e-mail are
    /// refused: the second would only repeat a call that already went unanswered. A shared phone number is
    /// accepted, because on-call rotations often share one.
    /// - Throws: `CoreError.invalidInput` with `invalid_troubleshooters` (empty or more than ten),
    ///   `duplicate_troubleshooter`, or any code of ``validated(position:)``.
    public static func validatedEscalationList(_ list: [Troubleshooter]) throws(CoreError) -> [Troubleshooter] {
        guard (1...Self.maximumCount).contains(list.count) else {
            throw CoreError.invalidInput(
                "invalid_troubleshooters",
                "The escalation list has \(list.count) people; give 1 to \(Self.maximumCount), the first to call first."
            )
        }
        var checked: [Troubleshooter] = []
        var positionByEmail: [String: Int] = [:]
        for (index, entry) in list.enumerated() {
            let troubleshooter = try entry.validated(position: index + 1)
            if let email = troubleshooter.email {
                if let earlier = positionByEmail[email] {
                    throw CoreError.invalidInput(
                        "duplicate_troubleshooter",
                        "Troubleshooters \(earlier) and \(index + 1) share the e-mail \(email); list each person once."
                    )
                }
                positionByEmail[email] = index + 1
            }
            checked.append(troubleshooter)
        }
        return checked
    }

    /// Checks one entry and returns it normalised: trimmed name and role, lower-cased e-mail, phone as `+`
    /// and digits. An empty e-mail or phone counts as none, since forms send empty fields.
    /// - Parameter position: The entry's place in the escalation list (1 for the first), named in errors so
    ///   the operator finds the row to fix.
    /// - Throws: `CoreError.invalidInput` with `invalid_troubleshooter_name`, `invalid_troubleshooter_role`,
    ///   `troubleshooter_unreachable`, `invalid_email` or `invalid_phone`.
    public func validated(position: Int) throws(CoreError) -> Troubleshooter {
        let name = try Self.checkedLine(self.name, field: "name", code: "invalid_troubleshooter_name", position: position)
        let who = "Troubleshooter \(position) (\(name))"
        let role = try Self.checkedLine(self.role, field: "role", code: "invalid_troubleshooter_role", position: position)
        let emailText = self.email?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let phoneText = self.phone?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !emailText.isEmpty || !phoneText.isEmpty else {
            throw CoreError.invalidInput("troubleshooter_unreachable", "\(who) has no e-mail or phone: add one so they can be reached.")
        }
        var email: String?
        if !emailText.isEmpty {
            do {
                email = try User.normalised(email: emailText)
            } catch let error as CoreError {
                throw CoreError.invalidInput(error.code, "\(who): \(error.message) Correct it, or leave it empty and give a phone.")
            } catch {
                throw CoreError.invalidInput("invalid_email", "\(who): '\(emailText)' is not an e-mail address.")
            }
        }
        var phone: String?
        if !phoneText.isEmpty {
            guard let normalised = Self.normalised(phone: phoneText) else {
                throw CoreError.invalidInput(
                    "invalid_phone",
                    "\(who): '\(phoneText)' is not a phone number; write it in international form, "
                        + "'+' then 7 to 15 digits (spaces and dashes allowed), like +44 20 7946 0000."
                )
            }
            phone = normalised
        }
        return Troubleshooter(name: name, role: role, email: email, phone: phone)
    }

    /// `+` followed by 7 to 15 digits once spaces and dashes are removed (E.164 allows at most 15), or `nil`.
    ///
    /// The international form is required because the person calling may be in another country than the
    /// person called; brackets and extensions are refused rather than guessed at.
    public static func normalised(phone text: String) -> String? {
        var characters = Substring(text.trimmingCharacters(in: .whitespaces))
        guard characters.first == "+" else { return nil }
        characters = characters.dropFirst()
        var digits = ""
        for character in characters {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if character != " ", character != "-" {
                return nil
            }
        }
        guard (7...15).contains(digits.count) else { return nil }
        return "+" + digits
    }

    /// A trimmed single line of 1 to 200 characters, or an error naming the field and the entry.
    private static func checkedLine(_ text: String, field: String, code: String, position: Int) throws(CoreError) -> String {
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let isControl: (Character) -> Bool = { $0.isNewline || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }
        guard (1...200).contains(line.count), !line.contains(where: isControl) else {
            throw CoreError.invalidInput(
                code,
                "Troubleshooter \(position): the \(field) must be one line of 1 to 200 characters."
            )
        }
        return line
    }
}
