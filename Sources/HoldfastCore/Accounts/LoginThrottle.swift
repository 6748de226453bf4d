import Foundation

/// Slows password guessing without ever locking the owner out.
///
/// Every attempt is counted as a failure *before* the password is checked, so a hundred
/// parallel guesses see one another; it is taken back if it succeeds, and dated when the check
/// answers if it fails (a delay runs from the answer, not from the question). Failures are counted
/// over a window, per client address and per account:
/// - after `freePerAddress` failures from one address, each further attempt from it waits a
///   delay after the last failure that doubles with every failure, from `baseDelay` up to
///   `maxDelay` (one client spraying many accounts);
/// - after `freePerAccount` failures on one account, the same growing delay applies — but only
///   to addresses that failed recently themselves. Whoever floods an account slows down every
///   address they guess from, while the owner, from an address with no failures, signs in at once.
///
/// A wait is never longer than `maxDelay`, and during it the right password is refused like a
/// wrong one (or the answer would tell the guesser when they were right).
public struct LoginThrottle: Sendable {
    public struct Limits: Sendable, Hashable {
        public var window: TimeInterval
        public var freePerAccount: Int
        public var freePerAddress: Int
        public var baseDelay: TimeInterval
        public var maxDelay: TimeInterval

        public init(
            window: TimeInterval = 3600, freePerAccount: Int = 5, freePerAddress: Int = 10, baseDelay: TimeInterval = 2,
            maxDelay: TimeInterval = 15 * 60
        ) {
            self.window = window
            self.freePerAccount = freePerAccount
            self.freePerAddress = freePerAddress
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
        }
    }

    /// An admitted attempt, already counted as a failure until ``succeeded(_:)`` takes it back.
    public struct Attempt: Sendable, Hashable {
        public let account: String
        public let address: String
        public let at: Date
    }

    public enum Decision: Sendable, Equatable {
        /// Check the password now.
        case proceed(Attempt)
        /// Refuse without checking: no attempt from this address on this account before `until`.
        case wait(until: Date)
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

    /// Whether an attempt on `account` from `address` may check its password now; an admitted
    /// one is counted as a failure at once.
    public mutating func admit(account: String, address: String, now: Date) -> Decision {
        let fromAddress = self.recent(.address(address), now: now)
        let onAccount = self.recent(.account(account), now: now)
        var until = self.delayed(fromAddress, free: self.limits.freePerAddress)
        if !fromAddress.isEmpty, let accountUntil = self.delayed(onAccount, free: self.limits.freePerAccount) {
            until = max(until ?? accountUntil, accountUntil)
        }
        if let until, until > now {
            return .wait(until: until)
        }
        self.failures[.account(account), default: []].append(now)
        self.failures[.address(address), default: []].append(now)
        if self.failures.count > 100_000 {
            // Bound memory under a spray of random accounts: forget keys with nothing recent.
            self.failures = self.failures.filter { $0.value.last.map { now.timeIntervalSince($0) < self.limits.window } ?? false }
        }
        return .proceed(Attempt(account: account, address: address, at: now))
    }

    /// The password was right: the attempt is no failure after all.
    public mutating func succeeded(_ attempt: Attempt) {
        self.redate(attempt, to: nil)
    }

    /// The password was wrong, as known at `now`: the delays it causes run from then.
    public mutating func failed(_ attempt: Attempt, now: Date) {
        self.redate(attempt, to: now)
    }

    private mutating func redate(_ attempt: Attempt, to date: Date?) {
        for key in [Key.account(attempt.account), .address(attempt.address)] {
            guard var times = self.failures[key], let index = times.lastIndex(of: attempt.at) else { continue }
            if let date { times[index] = date } else { times.remove(at: index) }
            self.failures[key] = times.isEmpty ? nil : times
        }
    }

    /// When the next attempt may come, given these failures: `nil` while within the free ones.
    private func delayed(_ failures: [Date], free: Int) -> Date? {
        guard failures.count >= free, let last = failures.max() else { return nil }
        let doublings = min(failures.count - free, 40)
        let delay = min(self.limits.maxDelay, self.limits.baseDelay * pow(2, Double(doublings)))
        return last.addingTimeInterval(delay)
    }

    private mutating func recent(_ key: Key, now: Date) -> [Date] {
        guard let times = self.failures[key] else { return [] }
        let recent = times.filter { now.timeIntervalSince($0) < self.limits.window }
        self.failures[key] = recent.isEmpty ? nil : recent
        return recent
    }
}
