import Foundation

/// One version of a tenant's Disaster Recovery Plan or Business Continuity Plan.
///
/// It encodes to the shape `GET /tenants/{slug}/plans/…` serves:
/// `{"kind","tenant","version","generatedAt","rpoSeconds","rtoSeconds","troubleshooters","sections":[{"title","body"}],"lastDrill"}`,
/// with `lastDrill` `null` (not missing) before the first drill, so clients can rely on the key.
public struct ContinuityPlan: Sendable, Codable, Hashable {
    /// Which plan; the raw values are the wire names in URLs and on the command line.
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        /// Restoring the service and its data: RTO, RPO, the recovery steps for this deployment.
        case disasterRecovery = "disaster-recovery"
        /// Keeping the customer's work going: held sessions, support channels, communication.
        case businessContinuity = "business-continuity"

        /// Parses the wire form, with an error that lists the valid kinds.
        public init(validating text: String) throws(CoreError) {
            guard let kind = Kind(rawValue: text) else {
                throw CoreError.invalidInput(
                    "invalid_plan", "'\(text)' is not a plan; use disaster-recovery or business-continuity.")
            }
            self = kind
        }

        /// The plan's name as a title.
        public var title: String {
            switch self {
            case .disasterRecovery: "Disaster Recovery Plan"
            case .businessContinuity: "Business Continuity Plan"
            }
        }
    }

    public var kind: Kind
    /// The tenant's slug.
    public var tenant: String
    /// 1 for the plan made at sign-up, one more for each change of inputs.
    public var version: Int
    public var generatedAt: Date
    public var rpoSeconds: Int
    public var rtoSeconds: Int
    /// In escalation order.
    public var troubleshooters: [Troubleshooter]
    public var sections: [PlanSection]
    public var lastDrill: DrillResult?

    public init(
        kind: Kind, tenant: String, version: Int, generatedAt: Date, rpoSeconds: Int, rtoSeconds: Int,
        troubleshooters: [Troubleshooter], sections: [PlanSection], lastDrill: DrillResult?
    ) {
        self.kind = kind
        self.tenant = tenant
        self.version = version
        self.generatedAt = generatedAt
        self.rpoSeconds = rpoSeconds
        self.rtoSeconds = rtoSeconds
        self.troubleshooters = troubleshooters
        self.sections = sections
        self.lastDrill = lastDrill
    }

    private enum CodingKeys: String, CodingKey {
        case kind, tenant, version, generatedAt, rpoSeconds, rtoSeconds, troubleshooters, sections, lastDrill
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.kind, forKey: .kind)
        try container.encode(self.tenant, forKey: .tenant)
        try container.encode(self.version, forKey: .version)
        try container.encode(self.generatedAt, forKey: .generatedAt)
        try container.encode(self.rpoSeconds, forKey: .rpoSeconds)
        try container.encode(self.rtoSeconds, forKey: .rtoSeconds)
        try container.encode(self.troubleshooters, forKey: .troubleshooters)
        try container.encode(self.sections, forKey: .sections)
        // `encode` of an optional writes `null`, where the synthesised `encodeIfPresent` would drop the key.
        try container.encode(self.lastDrill, forKey: .lastDrill)
    }
}

extension ContinuityPlan {
    /// The facts a renderer puts above the sections, as label and plain-text value.
    var summary: [(label: String, value: String)] {
        let rto =
            self.lastDrill == nil
            ? "\(DurationText.format(seconds: self.rtoSeconds)) (the target; no drill has proven it yet)"
            : "\(DurationText.format(seconds: self.rtoSeconds)) (measured by the latest drill)"
        let drill = self.lastDrill.map { "\(PlanText.instant($0.finishedAt)), \($0.passed ? "passed" : "failed")" } ?? "none yet"
        return [
            ("Tenant", self.tenant), ("Version", String(self.version)), ("Generated", PlanText.instant(self.generatedAt)),
            ("RPO", DurationText.format(seconds: self.rpoSeconds)), ("RTO", rto), ("Last drill", drill),
        ]
    }
}

/// One numbered part of a plan: a title such as `3.2 Notification procedures` and a body in the
/// ``PlanText`` dialect.
public struct PlanSection: Sendable, Codable, Hashable {
    public var title: String
    public var body: String

    public init(title: String, body: String) {
        self.title = title
        self.body = body
    }

    /// 1 for a top-level section (`1 Introduction`, `Appendix A …`), 2 for a subsection (`1.1 Purpose`).
    ///
    /// Read from the number, so the wire shape stays `{"title","body"}` and renderers still know where
    /// pages break and how the contents nest.
    public var level: Int {
        let number = self.title.prefix { $0 != " " }
        return number.contains(".") ? 2 : 1
    }

    /// A stable fragment id for links from the contents, from the number (`s-3-2`, `s-appendix-a`).
    public var anchor: String {
        let words = self.title.split(separator: " ")
        let number = words.first.map(String.init) ?? ""
        let key = number == "Appendix" && words.count > 1 ? "appendix-\(words[1])" : number
        let slug = key.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        return "s-" + slug.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }
}
