import Foundation
import HoldfastCore
import Testing

@Suite("Account rules")
struct AccountRulesTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)

    @Test(arguments: ["acme", "a1", "acme-research", "x" + String(repeating: "y", count: 62)])
    func validSlugs(slug: String) throws {
        try Tenant.validate(slug: slug)
    }

    @Test(arguments: ["", "a", "Acme", "1acme", "acme-", "ac me", "acmé", "a_b", "x" + String(repeating: "y", count: 63)])
    func invalidSlugs(slug: String) {
        let error = #expect(throws: CoreError.self) { try Tenant.validate(slug: slug) }
        #expect(error?.code == "invalid_slug")
        #expect(error?.kind == .invalidInput)
    }

    @Test func aTenantNeedsARealTimeZoneAndAName() throws {
        let tenant = try Tenant.validated(name: "  Acme  ", slug: "acme", timeZone: nil, createdAt: self.now)
        #expect(tenant.name == "Acme")
        #expect(tenant.timeZone == "Europe/London")
        #expect(
            #expect(throws: CoreError.self) {
                try Tenant.validated(name: "Acme", slug: "acme", timeZone: "Europe/Atlantis", createdAt: self.now)
            }?.code == "invalid_time_zone")
        #expect(
            #expect(throws: CoreError.self) { try Tenant.validated(name: "   ", slug: "acme", timeZone: nil, createdAt: self.now) }?.code
                == "invalid_name")
    }

    @Test func newUsersAreNormalisedAndChecked() throws {
        let tenant = Tenant.ID()
        let user = try NewUser(email: " Ann@Example.TEST ", password: "0123456789", role: "tenant-admin").validated(
            tenantID: tenant, createdAt: self.now)
        #expect(user.email == "ann@example.test")
        #expect(user.name == "ann")
        #expect(user.role == .tenantAdmin)

        let cases: [(NewUser, String)] = [
            (NewUser(email: "ann", password: "0123456789", role: "member"), "invalid_email"),
            (NewUser(email: "ann@example", password: "0123456789", role: "member"), "invalid_email"),
            (NewUser(email: "a b@example.test", password: "0123456789", role: "member"), "invalid_email"),
            (NewUser(email: "ann@example.test", password: "012345678", role: "member"), "weak_password"),
            (NewUser(email: "ann@example.test", password: String(repeating: "p", count: 73), role: "member"), "password_too_long"),
            (NewUser(email: "ann@example.test", password: "0123456789", role: "admin"), "invalid_role"),
        ]
        for (newUser, code) in cases {
            let error = #expect(throws: CoreError.self) { try newUser.validated(tenantID: tenant, createdAt: self.now) }
            #expect(error?.code == code, "\(newUser.email) / \(newUser.role)")
        }
    }

    @Test func accessFollowsTenantAndRole() throws {
        let acme = Tenant(name: "Acme", slug: "acme", createdAt: self.now)
        let globex = Tenant(name: "Globex", slug: "globex", createdAt: self.now)
        func user(_ role: Role, in tenant: Tenant) -> User {
            User(tenantID: tenant.id, email: "\(role.rawValue)@\(tenant.slug).test", name: "x", role: role, createdAt: self.now)
        }
        try AccessPolicy.requireUserManagement(of: acme, by: user(.tenantAdmin, in: acme))
        try AccessPolicy.requireUserManagement(of: acme, by: user(.operator, in: globex))
        #expect(
            #expect(throws: CoreError.self) { try AccessPolicy.requireUserManagement(of: acme, by: user(.tenantAdmin, in: globex)) }?.kind
                == .notFound)
        #expect(
            #expect(throws: CoreError.self) { try AccessPolicy.requireUserManagement(of: acme, by: user(.member, in: acme)) }?.kind
                == .forbidden)
        #expect(
            #expect(throws: CoreError.self) { try AccessPolicy.requireUserManagement(of: acme, by: user(.agent, in: acme)) }?.kind
                == .forbidden)

        try AccessPolicy.requireGrant(of: .member, by: user(.tenantAdmin, in: acme))
        try AccessPolicy.requireGrant(of: .tenantAdmin, by: user(.tenantAdmin, in: acme))
        for role in [Role.agent, .operator] {
            #expect(throws: CoreError.self) { try AccessPolicy.requireGrant(of: role, by: user(.tenantAdmin, in: acme)) }
            try AccessPolicy.requireGrant(of: role, by: user(.operator, in: acme))
        }
        #expect(throws: CoreError.self) { try AccessPolicy.requireTenantCreation(by: user(.tenantAdmin, in: acme)) }
    }
}

@Suite("Login throttle")
struct LoginThrottleTests {
    let start = Date(timeIntervalSince1970: 1_795_000_000)

    private func waitUntil(_ decision: LoginThrottle.Decision) -> Date? {
        if case .wait(let until) = decision { return until }
        return nil
    }

    @Test func parallelGuessesSeeOneAnotherBecauseEachCountsBeforeThePasswordIsChecked() {
        var throttle = LoginThrottle()
        // A hundred guesses arrive together: none has been checked when the next is admitted.
        let decisions = (0..<100).map { _ in throttle.admit(account: "ann", address: "203.0.113.7", now: self.start) }
        #expect(decisions.prefix(5).allSatisfy { self.waitUntil($0) == nil })
        #expect(decisions.dropFirst(5).allSatisfy { self.waitUntil($0) == self.start.addingTimeInterval(2) })
    }

    @Test func theOwnerFromAnAddressWithoutFailuresSignsInWhileTheAccountIsFlooded() {
        var throttle = LoginThrottle()
        var now = self.start
        for _ in 0..<100 {
            // The attacker comes back exactly when told, every time.
            if case .wait(let until) = throttle.admit(account: "ann", address: "203.0.113.7", now: now) {
                now = until
                _ = throttle.admit(account: "ann", address: "203.0.113.7", now: now)
            }
        }
        #expect(self.waitUntil(throttle.admit(account: "ann", address: "203.0.113.7", now: now)) != nil)
        #expect(self.waitUntil(throttle.admit(account: "ann", address: "198.51.100.1", now: now)) == nil)
    }

    @Test func delaysDoubleWithEachFailureAndStopAtTheMaximum() {
        var throttle = LoginThrottle(limits: .init(window: 86_400, freePerAccount: 5, freePerAddress: 3, baseDelay: 1, maxDelay: 60))
        var now = self.start
        var waits: [TimeInterval] = []
        for index in 0..<12 {
            // A different account each time: only the address's count applies.
            switch throttle.admit(account: "user\(index)", address: "203.0.113.7", now: now) {
            case .proceed: break
            case .wait(let until):
                waits.append(until.timeIntervalSince(now))
                now = until
                guard case .proceed = throttle.admit(account: "user\(index)", address: "203.0.113.7", now: now) else {
                    Issue.record("refused at the time it was told to come back")
                    return
                }
            }
        }
        #expect(waits == [1, 2, 4, 8, 16, 32, 60, 60, 60])
    }

    @Test func aDelayRunsFromWhenTheFailureWasKnown() {
        var throttle = LoginThrottle(limits: .init(freePerAccount: 1, baseDelay: 2))
        guard case .proceed(let attempt) = throttle.admit(account: "ann", address: "192.0.2.1", now: self.start) else {
            Issue.record("the first attempt was refused")
            return
        }
        // The password check took ten seconds (a loaded host); the wait starts after it.
        throttle.failed(attempt, now: self.start.addingTimeInterval(10))
        #expect(
            self.waitUntil(throttle.admit(account: "ann", address: "192.0.2.1", now: self.start.addingTimeInterval(11)))
                == self.start.addingTimeInterval(12))
    }

    @Test func anAccountsDelayReachesEveryAddressThatFailedRecentlyButNoOther() {
        var throttle = LoginThrottle()
        _ = throttle.admit(account: "bob", address: "192.0.2.1", now: self.start)  // one wrong guess, on another account
        for _ in 0..<5 {
            _ = throttle.admit(account: "ann", address: "203.0.113.7", now: self.start)
        }
        #expect(self.waitUntil(throttle.admit(account: "ann", address: "192.0.2.1", now: self.start)) != nil)
        #expect(self.waitUntil(throttle.admit(account: "ann", address: "198.51.100.1", now: self.start)) == nil)
    }

    @Test func aSuccessTakesItsAttemptBackAndTheWindowForgets() {
        var throttle = LoginThrottle(limits: .init(window: 900))
        for _ in 0..<20 {
            guard case .proceed(let attempt) = throttle.admit(account: "ann", address: "192.0.2.1", now: self.start) else {
                Issue.record("a sign-in that succeeded every time was slowed")
                return
            }
            throttle.succeeded(attempt)
        }
        for _ in 0..<30 {
            _ = throttle.admit(account: "ann", address: "192.0.2.1", now: self.start)
        }
        #expect(self.waitUntil(throttle.admit(account: "ann", address: "192.0.2.1", now: self.start)) != nil)
        #expect(self.waitUntil(throttle.admit(account: "ann", address: "192.0.2.1", now: self.start.addingTimeInterval(901))) == nil)
    }
}

@Suite("Durations")
struct DurationTextTests {
    @Test(arguments: [("90s", 90), ("5m", 300), ("1h30m", 5400), ("2d", 172_800), ("30m", 1800), (" 10s ", 10)])
    func parses(text: String, seconds: Int) throws {
        #expect(try DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["", "30", "5x", "m5", "1h30", "-5m", "1.5h", "99999999999999999999d"])
    func refuses(text: String) {
        let error = #expect(throws: CoreError.self) { try DurationText.seconds(text) }
        #expect(error?.code == "invalid_duration")
    }

    @Test func formatsBack() throws {
        for seconds in [1, 59, 60, 90, 3600, 5400, 86_400 + 61] {
            #expect(try DurationText.seconds(DurationText.format(seconds: seconds)) == seconds)
        }
        #expect(DurationText.format(seconds: 5400) == "1h30m")
    }
}
