import Glibc

/// Linux and GNU functions that Swift's Glibc module hides (it is built without `_GNU_SOURCE`),
/// looked up by name in the C library at run time.
///
/// Each is `nil` on a system too old to have it; callers fall back or say what is needed.
enum GNUFunctions {
    /// `pidfd_open(2)` (Linux 5.3, glibc 2.36): a descriptor that becomes readable when a process exits.
    static let pidfdOpen = lookUp("pidfd_open", as: (@convention(c) (pid_t, UInt32) -> Int32).self)

    /// `pidfd_send_signal(2)` (Linux 5.1, glibc 2.36): signals the process a pidfd names, never a reused pid.
    static let pidfdSendSignal = lookUp(
        "pidfd_send_signal", as: (@convention(c) (Int32, Int32, UnsafeMutableRawPointer?, UInt32) -> Int32).self)

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34): close every descriptor from a number up.
    static let addCloseFrom = lookUp(
        "posix_spawn_file_actions_addclosefrom_np",
        as: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self
    )

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29): start the child in another directory.
    static let addChangeDirectory = lookUp(
        "posix_spawn_file_actions_addchdir_np",
        as: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self
    )

    private static func lookUp<Function>(_ name: String, as type: Function.Type) -> Function? {
        // A null handle is RTLD_DEFAULT: search the libraries the process has loaded.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
}
