// What the ticket benchmarks share: a support calendar and SLA promises as a real team would set
// them, and a seeded random number generator so that a run can be repeated exactly.

import Foundation
import HoldfastCore

/// The support desk the ticket benchmarks assume.
enum BenchFixtures {
    /// Monday to Friday, 09:00–12:30 and 13:30–17:30 in Europe/London (7.5 business hours a day), closed on
    /// the bank holidays of England and Wales and on the office's two extra days (24 and 31 December),
    /// 2025 to 2027: about ten closed weekdays a year.
    static func calendar() throws -> BusinessCalendar {
        var hours: [OpeningInterval] = []
        for day in [Weekday.mon, .tue, .wed, .thu, .fri] {
            hours.append(try OpeningInterval(day, "09:00", "12:30"))
            hours.append(try OpeningInterval(day, "13:30", "17:30"))
        }
        let holidays = try [
            "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25", "2025-12-24",
            "2025-12-25", "2025-12-26", "2025-12-31",
            "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-24",
            "2026-12-25", "2026-12-28", "2026-12-31",
            "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-24",
            "2027-12-27", "2027-12-28", "2027-12-31",
        ].map(LocalDate.init)
        return try BusinessCalendar(timeZone: "Europe/London", weeklyHours: hours, holidays: Set(holidays))
    }

    /// First-response promises of 4 business hours (outages, and anything high or urgent), 8 (bugs) and
    /// two business days (questions: 2 × 7.5 h).
    static let policies = SLAPolicySet(policies: [
        SLAPolicy(name: "outages", kinds: ["outage"], firstResponseMinutes: 240),
        SLAPolicy(name: "urgent", priorities: ["high", "urgent"], firstResponseMinutes: 240),
        SLAPolicy(name: "bugs", kinds: ["bug"], firstResponseMinutes: 480),
        SLAPolicy(name: "questions", kinds: ["question"], firstResponseMinutes: 900),
    ])

    /// The targets of ``policies``, in business minutes.
    static let targetMinutes = [240, 480, 900]
}

/// SplitMix64: a tiny, fast generator whose sequence depends only on its seed, so that the seeded
/// store and the SLA inputs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = self.state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// One of `choices`, picked with probability proportional to its weight.
    mutating func pick<Choice>(_ choices: [(Choice, Double)]) -> Choice {
        var roll = Double.random(in: 0..<choices.reduce(0) { $0 + $1.1 }, using: &self)
        for (choice, weight) in choices {
            if roll < weight { return choice }
            roll -= weight
        }
        return choices[choices.count - 1].0
    }

    /// Whether an event of probability `probability` happens.
    mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &self) < probability
    }
}
