import Foundation
import Hummingbird

/// The portal's sign-in cookie.
///
/// Behind HTTPS (`--secure-cookies`, or an `https://` public URL) it is `Secure` and named
/// `__Host-holdfast_session`: browsers accept a cookie of that name only when it is set over
/// HTTPS for the whole site (`Path=/`, no `Domain`), so a network attacker cannot plant one of
/// their own over plain HTTP to sign a victim into the attacker's account. Only that name is read
/// then: a cookie left from before the switch just means signing in again.
struct SessionCookie: Sendable {
    static let plainName = "holdfast_session"
    static let hostOnlyName = "__Host-holdfast_session"

    let secure: Bool

    var name: String { self.secure ? Self.hostOnlyName : Self.plainName }

    func issue(token: String, lifetime: TimeInterval) -> Cookie {
        Cookie(name: self.name, value: token, maxAge: max(0, Int(lifetime)), path: "/", secure: self.secure, httpOnly: true, sameSite: .lax)
    }

    func cleared() -> Cookie {
        Cookie(name: self.name, value: "", maxAge: 0, path: "/", secure: self.secure, httpOnly: true, sameSite: .lax)
    }

    func token(in request: Request) -> String? {
        request.cookies[self.name]?.value
    }
}
