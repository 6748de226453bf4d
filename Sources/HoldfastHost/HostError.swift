import Glibc

/// The error every part of the session host throws.
///
/// `code` is a stable word a caller may switch on (`sandbox_did_not_start`, `session_not_running`, …);
/// `message` says what went wrong and what to do next, in words an operator can act on. A failed
/// system call carries its `errno` text in the message, because "Permission denied" or "No such file"
/// is usually the whole diagnosis.
public struct HostError: Error, CustomStringConvertible, Sendable {
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
            return "\(self.code): \(self.message) (\(cause))"
        }
        return "\(self.code): \(self.message)"
    }

    /// A system call that failed; `errno` must be read right after the call, before anything else runs.
    static func systemCall(_ call: String, errno code: Int32, while doing: String, hint: String) -> HostError {
        HostError(
            code: "system_call_failed",
            message: "\(call) failed while \(doing): \(errorText(code)) (errno \(code)); \(hint)"
        )
    }

    /// The session has no running tmux server to talk to.
    static func notRunning(_ what: String) -> HostError {
        HostError(
            code: "session_not_running",
            message: "\(what): the session's tmux server does not answer; it has ended or was never launched on this host. "
                + "Launch it again (its workspace is intact)."
        )
    }
}

/// The text of an `errno` value, such as "Permission denied".
func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
