import Foundation

/// Slows password guessing: too many failed logins for one account, or from one address,
/// within a window lock that key until the oldest failure leaves the window.
///
/// Both keys matter: per account stops a targeted guess from many addresses, per address
/// stops one client spraying many accounts. A locked key refuses even the right password,
/// or the lock would tell the guesser when they are right.
public struct LoginThrottle: Sendable {
    public struct Limits: Sendable, Hashable {
        public var window: TimeInterval
        public var failuresPerAccount: Int
        public var failuresPerAddress: Int

        public init(window: TimeInterval = 15 * 60, failuresPerAccount: Int = 5, failuresPerAddress: Int = 20) {
            self.window = window
            self.failuresPerAccount = failuresPerAccount
            self.failuresPerAddress = failuresPerAddress
        }
    }

    public let limits: Limits
    private var failures: [Key: [Date]] = [:]

    private enum Key: Hashable {
        case account(String)
        case address(String)
    }

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// When the caller may try again, or `nil` if an attempt is allowed now.
    public mutating func retryAfter(account: String, address: String, now: Date) -> Date? {
        let keys: [(Key, Int)] = [
            (.account(account), self.limits.failuresPerAccount),
            (.address(address), self.limits.failuresPerAddress),
        ]
        var retry: Date?
        for (key, limit) in keys {
            let recent = self.prune(key, now: now)
            if recent.count >= limit, let oldest = recent.first {
                let until = oldest.addingTimeInterval(self.limits.window)
                retry = max(retry ?? until, until)
            }
        }
        return retry
    }

    /// Counts a failed attempt against the account and the address.
    public mutating func recordFailure(account: String, address: String, now: Date) {
        self.failures[.account(account), default: []].append(now)
        self.failures[.address(address), default: []].append(now)
        if self.failures.count > 100_000 {
            // Bound memory under a spray of random accounts: forget keys with nothing recent.
            self.failures = self.failures.filter { $0.value.last.map { now.timeIntervalSince($0) < self.limits.window } ?? false }
        }
    }

    /// A successful login clears the account's failures (not the address's).
    public mutating func recordSuccess(account: String) {
        self.failures[.account(account)] = nil
    }

    private mutating func prune(_ key: Key, now: Date) -> [Date] {
        guard let times = self.failures[key] else { return [] }
        let recent = times.filter { now.timeIntervalSince($0) < self.limits.window }
        self.failures[key] = recent.isEmpty ? nil : recent
        return recent
    }
}
