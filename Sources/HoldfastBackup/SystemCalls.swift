import Glibc

/// Linux functions that Swift's Glibc module hides (it is built without `_GNU_SOURCE`), looked up
/// in the C library at run time; `nil` on a system too old to have them.
enum SystemCalls {
    /// `renameat2(2)` (glibc 2.28), used with `RENAME_NOREPLACE` so a restore never replaces a
    /// folder that appeared at its target meanwhile (plain `rename` silently replaces an empty one).
    static let renameAt2 = lookUp(
        "renameat2",
        as: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self
    )

    /// `RENAME_NOREPLACE` from `<linux/fs.h>`.
    static let renameNoReplace: UInt32 = 1

    /// Renames `source` to `target`, failing with `EEXIST` when `target` exists.
    /// - Returns: 0, or the `errno` of the failure.
    static func renameWithoutReplacing(_ source: String, _ target: String) -> Int32 {
        if let renameAt2 {
            return renameAt2(AT_FDCWD, source, AT_FDCWD, target, Self.renameNoReplace) == 0 ? 0 : errno
        }
        // Without renameat2 the check and the rename are two steps; the window is tiny and a
        // non-empty folder at the target still makes rename fail.
        var info = stat()
        if lstat(target, &info) == 0 { return EEXIST }
        return rename(source, target) == 0 ? 0 : errno
    }

    private static func lookUp<Function>(_ name: String, as type: Function.Type) -> Function? {
        // A null handle is RTLD_DEFAULT: search the libraries the process has loaded.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
}

/// The text of an `errno` value, such as "Permission denied".
func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// Random lower-case hex digits from the system's cryptographic generator (`getrandom`).
func randomHex(bytes count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    var text = ""
    for _ in 0..<count {
        let byte = UInt8.random(in: .min ... .max, using: &generator)
        text += String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
    }
    return text
}
