/// The store's own failures: bad configuration and database trouble.
///
/// Rule violations a caller can fix (a taken slug, say) are reported as `CoreError`
/// instead, because the HTTP layer must turn them into a 4xx.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var code: String
    public var message: String
    public var cause: (any Error)?

    public init(code: String, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause = self.cause {
            return "\(self.message) (\(cause))"
        }
        return self.message
    }

    static func badLocation(_ text: String) -> StoreError {
        StoreError(
            code: "bad_database_location",
            message: "'\(text)' is not a database location; use sqlite:PATH or postgres://USER@HOST:PORT/DB"
        )
    }
}
