// `HoldfastBench seed-tickets`: fills a data directory with a year of support-desk history, quickly,
// for `bench/ticket_bench.py` to serve with the real `holdfast serve`.
//
//     HoldfastBench seed-tickets --data-dir DIR [--tickets 100000] [--database URL] [--tenants 8]
//         [--customers 40] [--agents 6] [--password PW] [--seed 5] [--output FILE]
//
// The store is opened as `holdfast admin` opens it (`withOpenStore`: migrations, then `Accounts`).
// Tenants and users are validated as the CLI validates them; the first agent is made by
// `Accounts.createUser` (bcrypt, cost 12: ~0.25 s), and the other users share its hash, so every
// account signs in with `--password`. The support calendar is
// `BenchFixtures.calendar()`, stored as an operator's `PUT /support/calendar` stores it.
//
// Each ticket is a validated `NewTicket` filed at its own instant of the past year (mostly in
// business hours), then lived through `TicketStateMachine` up to now: assigned, answered, waiting
// on the customer, reopened by the customer's reply, resolved, closed — the older the ticket, the
// further along. Unanswered tickets already past due carry the breach warning the server's sweeper
// would have sent. It is stored with its thread by `TicketRepository.create`, which numbers it, one
// transaction per ticket in filing order (so numbers grow with time, as they do). The mails these
// changes would have sent are not written: they were delivered long ago and the lists never read
// them.

import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastStore
import Logging

struct TicketSeedingOptions {
    var dataDirectory = ""
    var tickets = 100_000
    var database: String?
    var tenants = 8
    var customersPerTenant = 40
    var agents = 6
    var password = "bench-password-123"
    var seed: UInt64 = 5
    var output: String?

    static func parse(_ arguments: ArraySlice<String>) -> TicketSeedingOptions {
        var options = TicketSeedingOptions()
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { Self.usage("\(flag) needs a value") }
            switch flag {
            case "--data-dir": options.dataDirectory = value
            case "--database": options.database = value
            case "--password": options.password = value
            case "--output": options.output = value
            case "--seed":
                guard let seed = UInt64(value) else { Self.usage("--seed takes a whole number") }
                options.seed = seed
            default:
                guard let number = Int(value), number > 0 else { Self.usage("\(flag) takes a positive whole number") }
                switch flag {
                case "--tickets": options.tickets = number
                case "--tenants": options.tenants = number
                case "--customers": options.customersPerTenant = number
                case "--agents": options.agents = number
                default: Self.usage("unknown option \(flag)")
                }
            }
        }
        guard !options.dataDirectory.isEmpty else { Self.usage("--data-dir is required") }
        return options
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(
            Data(
                ("HoldfastBench seed-tickets: \(message)\nusage: HoldfastBench seed-tickets --data-dir DIR [--tickets N] "
                    + "[--database URL] [--tenants N] [--customers N] [--agents N] [--password PW] [--seed N] [--output FILE]\n")
                    .utf8))
        exit(2)
    }
}

/// What the seeding made, for the script that signs in and measures.
struct TicketSeedingReport: Codable {
    var tickets: Int
    var tenants: Int
    var customers: Int
    var agents: Int
    var seconds: Double
    var ticketsPerSecond: Double
    var replies: Int
    var byStatus: [String: Int]
    /// Tickets `new` or `open`: the agent queue.
    var inQueue: Int
    /// Of those, still awaiting a first response and past due now.
    var overdueInQueue: Int
    /// A customer to sign in as, and how many tickets they filed.
    var customerEmail: String
    var customerTickets: Int
    var agentEmail: String
    var password: String
    var loadavgAtEnd: String
}

func runTicketSeeding(_ options: TicketSeedingOptions) async throws {
    var configuration = HoldfastConfiguration()
    configuration.dataDirectory = options.dataDirectory
    configuration.database = try options.database.map(DatabaseLocation.init(parsing:))
    var logger = Logger(label: "holdfast.bench")
    logger.logLevel = .warning
    let report = try await withOpenStore(configuration, logger: logger) { accounts, _ in
        try await TicketSeeder(options: options, accounts: accounts).seed()
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json = try encoder.encode(report)
    if let output = options.output {
        try json.write(to: URL(fileURLWithPath: output))
    }
    print(
        "seeded \(report.tickets) tickets (\(report.replies) replies) for \(report.customers) customers of \(report.tenants) "
            + "tenants in \(String(format: "%.1f", report.seconds)) s (\(Int(report.ticketsPerSecond)) tickets/s); "
            + "queue \(report.inQueue) (\(report.overdueInQueue) overdue); \(report.customerEmail) has \(report.customerTickets)")
}

/// Makes the accounts, the calendar and the tickets of one seeding run.
struct TicketSeeder {
    let options: TicketSeedingOptions
    let accounts: Accounts
    var repositories: Repositories { self.accounts.repositories }

    func seed() async throws -> TicketSeedingReport {
        let started = ContinuousClock.now
        let now = Date()
        var random = SeededGenerator(seed: self.options.seed)
        let calendar = try BenchFixtures.calendar()
        let document = String(decoding: try JSONEncoder().encode(calendar), as: UTF8.self)
        try await self.repositories.settings.set(document, for: SettingKey.supportCalendar, at: now)

        let zones = ["Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
        let team = try await self.accounts.createTenant(name: "Support team", slug: "support-team", timeZone: "Europe/London")
        // The first account the way `holdfast admin create-user` makes it; the others share its hash.
        let first = try await self.accounts.createUser(
            tenantSlug: team.slug, self.newUser(prefix: "agent", index: 0, of: team, role: .agent))
        guard let hash = try await self.repositories.users.credentials(email: first.email)?.passwordHash else {
            throw BenchError("the account \(first.email) was not stored")
        }
        let agents = try await [first] + self.users(of: team, prefix: "agent", range: 1..<self.options.agents, role: .agent, hash: hash)
        var customers: [User] = []
        for index in 0..<self.options.tenants {
            let tenant = try await self.accounts.createTenant(
                name: "Customer \(index)", slug: "customer-\(index)", timeZone: zones[index % zones.count])
            customers += try await self.users(
                of: tenant, prefix: "user", range: 0..<self.options.customersPerTenant, role: .member, hash: hash)
        }

        // Filing instants over the past year, nine in ten during business hours, in order.
        let year: TimeInterval = 365 * 86_400
        var instants: [Date] = []
        instants.reserveCapacity(self.options.tickets)
        while instants.count < self.options.tickets {
            let instant = now.addingTimeInterval(-Double.random(in: 60..<year, using: &random))
            if calendar.isOpen(at: instant) || random.chance(0.1) {
                instants.append(instant)
            }
        }
        instants.sort()

        var byStatus: [TicketStatus: Int] = [:]
        var replyCount = 0
        var overdue = 0
        var ticketsOf: [User.ID: Int] = [:]
        // One ticket at a time, in filing order. Storing four at once was no faster (618 against 665 tickets/s
        // for 10,000): SQLite commits one transaction at a time, and that is where the time goes.
        for (index, filedAt) in instants.enumerated() {
            let requester = customers[Int.random(in: 0..<customers.count, using: &random)]
            var life = TicketLife(
                ticket: try Self.newTicket(index, filedAt: filedAt, random: &random).validated(
                    tenantID: requester.tenantID, requesterID: requester.id, policies: BenchFixtures.policies,
                    calendar: calendar, at: filedAt),
                calendar: calendar, now: now)
            try life.live(agents: agents.map(\.id), random: &random)
            let ticket = try await self.repositories.tickets.create(life.machine.ticket, replies: life.replies) { _ in [] }
            byStatus[ticket.status, default: 0] += 1
            replyCount += life.replies.count
            ticketsOf[requester.id, default: 0] += 1
            if ticket.status.isWithTeam, ticket.isAwaitingFirstResponse, let due = ticket.firstResponseDueAt, due < now {
                overdue += 1
            }
            if (index + 1) % 10_000 == 0 {
                let seconds = started.duration(to: .now) / .seconds(1)
                print("  \(index + 1) tickets, \(Int(Double(index + 1) / seconds)) tickets/s")
            }
        }

        let seconds = started.duration(to: .now) / .seconds(1)
        let customer = customers[0]
        return TicketSeedingReport(
            tickets: instants.count, tenants: self.options.tenants, customers: customers.count, agents: agents.count,
            seconds: (seconds * 10).rounded() / 10, ticketsPerSecond: (Double(instants.count) / seconds).rounded(),
            replies: replyCount,
            byStatus: Dictionary(uniqueKeysWithValues: byStatus.map { ($0.key.rawValue, $0.value) }),
            inQueue: (byStatus[.new] ?? 0) + (byStatus[.open] ?? 0), overdueInQueue: overdue,
            customerEmail: customer.email, customerTickets: ticketsOf[customer.id] ?? 0,
            agentEmail: agents[0].email, password: self.options.password, loadavgAtEnd: loadAverage())
    }

    /// Validated users `prefix-N@tenant.bench.test`, stored with a hash made once for all of them.
    private func users(of tenant: Tenant, prefix: String, range: Range<Int>, role: Role, hash: String) async throws -> [User] {
        var users: [User] = []
        for index in range {
            let user = try self.newUser(prefix: prefix, index: index, of: tenant, role: role)
                .validated(tenantID: tenant.id, createdAt: Date())
            try await self.repositories.users.create(user, passwordHash: hash)
            users.append(user)
        }
        return users
    }

    private func newUser(prefix: String, index: Int, of tenant: Tenant, role: Role) -> NewUser {
        NewUser(
            email: "\(prefix)-\(index)@\(tenant.slug).bench.test", name: "\(prefix.capitalized) \(index) of \(tenant.name)",
            password: self.options.password, role: role.rawValue)
    }

    /// A ticket as a customer would write it: a few hundred characters, one of a handful of subjects.
    private static func newTicket(_ index: Int, filedAt: Date, random: inout SeededGenerator) -> NewTicket {
        let kind = random.pick([("bug", 45.0), ("question", 40), ("outage", 15)])
        let subjects = [
            "Terminal freezes after the laptop wakes up", "Workspace restore shows an old snapshot",
            "Cannot attach to my session from the office", "How do I raise the session grace period?",
            "Backups fail with a repository error", "Desktop session is blank after sign-in",
            "Question about the retention of snapshots", "Copy and paste stops working in the terminal",
        ]
        let subject = subjects[Int.random(in: 0..<subjects.count, using: &random)] + " (\(index))"
        let description = String(
            repeating: "Since this morning the session drops every few minutes and the screen stays grey until I reload. ",
            count: Int.random(in: 1...4, using: &random))
        return NewTicket(
            kind: kind, channel: random.pick([(TicketChannel.web, 55.0), (.email, 30), (.api, 10), (.phone, 5)]),
            priority: random.pick([("low", 20.0), ("normal", 55), ("high", 18), ("urgent", 7)]),
            subject: subject, description: description,
            occurredAt: filedAt.addingTimeInterval(-Double.random(in: 0..<4 * 3600, using: &random)),
            whatHappened: "I typed a command, the cursor stopped and nothing I typed showed up for a minute.")
    }
}

/// One ticket's history from filing to now, through the state machine, with the thread it leaves.
struct TicketLife {
    var machine: TicketStateMachine
    var replies: [TicketReply] = []
    let now: Date
    /// When the last event happened; the next one comes after it.
    private var clock: Date

    init(ticket: Ticket, calendar: BusinessCalendar, now: Date) {
        self.machine = TicketStateMachine(ticket: ticket, calendar: calendar)
        self.now = now
        self.clock = ticket.createdAt
    }

    /// Where the ticket is headed: most old tickets are closed, recent ones are still being worked on.
    enum Outcome {
        case untouched, assigned, answered, waiting, resolved, closed
    }

    /// Plays the ticket's life; an event that would come after `now` has not happened yet, so the
    /// ticket stays where it is.
    mutating func live(agents: [User.ID], random: inout SeededGenerator) throws {
        let ticket = self.machine.ticket
        let ageDays = self.now.timeIntervalSince(ticket.createdAt) / 86_400
        let outcome: Outcome =
            ageDays < 3
            ? random.pick([(Outcome.untouched, 30.0), (.assigned, 15), (.answered, 15), (.waiting, 20), (.resolved, 15), (.closed, 5)])
            : ageDays < 14
                ? random.pick([(Outcome.untouched, 3.0), (.assigned, 4), (.answered, 6), (.waiting, 15), (.resolved, 30), (.closed, 42)])
                : random.pick([(Outcome.untouched, 0.2), (.assigned, 0.5), (.answered, 1), (.waiting, 2.3), (.resolved, 6), (.closed, 90)])
        let agent = agents[Int.random(in: 0..<agents.count, using: &random)]
        let customer = ticket.requesterID
        let target = ticket.firstResponseTargetMinutes ?? 480
        lived: do {
            if outcome == .untouched { break lived }
            if outcome == .assigned || random.chance(0.6) {
                guard self.advance(businessMinutes: Int.random(in: 1...30, using: &random)) else { break lived }
                _ = try self.machine.assign(to: agent, by: agent, at: self.clock)
            }
            if outcome == .assigned {
                if random.chance(0.3), self.advance(businessMinutes: Int.random(in: 5...60, using: &random)) {
                    try self.reply("Looking into it; the logs show the resume timing out.", by: agent, as: .team, visibility: .internal)
                }
                break lived
            }
            // The first response: a third of them late, as on a real desk.
            guard self.advance(businessMinutes: Int.random(in: 5...(target * 3 / 2), using: &random)) else { break lived }
            switch outcome {
            case .answered:
                try self.reply("Thanks, we can reproduce it and are working on a fix.", by: agent, as: .team)
                break lived
            case .waiting:
                try self.reply("Which browser and network were you on?", by: agent, as: .team, setting: .waitingOnCustomer)
                break lived
            default:
                break
            }
            if random.chance(0.5) {
                try self.reply("Could you send the time it happened?", by: agent, as: .team, setting: .waitingOnCustomer)
                guard self.advance(seconds: Double.random(in: 3600...3 * 86_400, using: &random)) else { break lived }
                try self.reply("It was at 10:15, on the office network.", by: customer, as: .customer)
                guard self.advance(businessMinutes: Int.random(in: 10...240, using: &random)) else { break lived }
            }
            try self.reply("Fixed in today's release; please try again.", by: agent, as: .team, setting: .resolved)
            guard outcome == .closed, self.advance(seconds: Double.random(in: 86_400...7 * 86_400, using: &random)) else {
                break lived
            }
            _ = try self.machine.changeStatus(to: .closed, by: agent, as: .team, at: self.clock)
        }
        try self.recordBreachWarning(team: agents)
    }

    /// Moves the clock on by business minutes; `false` when that lands after `now`.
    private mutating func advance(businessMinutes: Int) -> Bool {
        guard let next = try? self.machine.calendar.addingBusinessTime(minutes: businessMinutes, to: self.clock) else {
            return false
        }
        return self.move(to: next)
    }

    /// Moves the clock on by wall-clock seconds; `false` when that lands after `now`.
    private mutating func advance(seconds: TimeInterval) -> Bool {
        self.move(to: self.clock.addingTimeInterval(seconds))
    }

    private mutating func move(to instant: Date) -> Bool {
        guard instant < self.now else { return false }
        self.clock = instant
        return true
    }

    private mutating func reply(
        _ body: String, by author: User.ID, as side: TicketSide, visibility: ReplyVisibility = .public,
        setting status: TicketStatus? = nil
    ) throws {
        let channel: TicketChannel = side == .team ? .web : self.machine.ticket.channel == .email ? .email : .web
        for case .recordReply(let reply) in try self.machine.reply(
            body: body, visibility: visibility, channel: channel, by: author, as: side, setting: status, at: self.clock)
        {
            self.replies.append(reply)
        }
    }

    /// The warning the server's sweeper sent when the ticket breached: at the first business minute after
    /// its due time, if that has passed.
    private mutating func recordBreachWarning(team: [User.ID]) throws {
        let ticket = self.machine.ticket
        guard ticket.status.isWithTeam, ticket.isAwaitingFirstResponse, let due = ticket.firstResponseDueAt else { return }
        let sweep = try self.machine.calendar.nextOpening(after: max(due, self.clock).addingTimeInterval(60))
        guard sweep < self.now else { return }
        _ = try self.machine.tick(fallbackRecipients: team, at: sweep)
    }
}
