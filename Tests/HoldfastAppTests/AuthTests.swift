import Foundation
import HoldfastApp
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Sign-in")
struct AuthTests {
    @Test func theFirstOperatorCanSignInWithTheBearerTokenAndTheCookie() async throws {
        try await TestServer.run { server, client in
            let login = try await client.send(
                .post, "/api/v1/auth/login",
                json: ["email": server.firstOperator.email, "password": server.firstOperator.password]
            )
            #expect(login.status == .ok)
            let token = try #require(JSON(login.body)["token"].string)
            #expect(JSON(login.body)["user"]["role"].string == "operator")
            let cookie = try #require(login.headers[.setCookie])
            #expect(cookie.contains("holdfast_session=\(token)"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))

            let viaBearer = try await client.send(.get, "/api/v1/auth/me", token: token)
            #expect(JSON(viaBearer.body)["user"]["email"].string == server.firstOperator.email)
            let viaCookie = try await client.send(.get, "/api/v1/auth/me", headers: [.cookie: "holdfast_session=\(token)"])
            #expect(viaCookie.status == .ok)
            #expect(JSON(viaCookie.body)["tenant"]["slug"].string == "operations")
        }
    }

    @Test func behindHTTPSTheCookieIsSecureAndHostOnlyAndTheOldNameIsNotRead() async throws {
        try await TestServer.run(configuring: { $0.publicURL = "https://holdfast.example.com" }) { server, client in
            let login = try await client.send(
                .post, "/api/v1/auth/login",
                json: ["email": server.firstOperator.email, "password": server.firstOperator.password]
            )
            let token = try #require(JSON(login.body)["token"].string)
            let cookie = try #require(login.headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-holdfast_session=\(token)"))
            #expect(cookie.contains("Secure"))
            #expect(cookie.contains("Path=/"))
            #expect(!cookie.lowercased().contains("domain="))

            let viaHostCookie = try await client.send(.get, "/api/v1/auth/me", headers: [.cookie: "__Host-holdfast_session=\(token)"])
            #expect(viaHostCookie.status == .ok)
            // A plain-named cookie could have been planted over HTTP: it signs nobody in.
            let viaPlainCookie = try await client.send(.get, "/api/v1/auth/me", headers: [.cookie: "holdfast_session=\(token)"])
            expectError(viaPlainCookie, .unauthorized, code: "unauthenticated")

            let logout = try await client.send(
                .post, "/api/v1/auth/logout",
                headers: [.cookie: "__Host-holdfast_session=\(token)", .origin: "https://holdfast.example.com"])
            #expect(logout.status == .noContent)
            #expect(logout.headers[.setCookie]?.hasPrefix("__Host-holdfast_session=;") == true)
        }
    }

    @Test func aWrongPasswordAndAnUnknownEmailGetTheSameAnswer() async throws {
        try await TestServer.run { server, client in
            let wrongPassword = try await client.send(
                .post, "/api/v1/auth/login", json: ["email": server.firstOperator.email, "password": "not-the-password"]
            )
            let unknownEmail = try await client.send(
                .post, "/api/v1/auth/login", json: ["email": "nobody@example.test", "password": "not-the-password"]
            )
            expectError(wrongPassword, .unauthorized, code: "invalid_credentials")
            expectError(unknownEmail, .unauthorized, code: "invalid_credentials")
            #expect(String(buffer: wrongPassword.body) == String(buffer: unknownEmail.body))
            #expect(wrongPassword.headers[.setCookie] == nil)
        }
    }

    @Test func repeatedFailuresMakeThisAddressWaitWithRetryAfterThenTheRightPasswordWorks() async throws {
        try await TestServer.run { server, client in
            let email = server.firstOperator.email
            for _ in 0..<5 {
                let wrong = try await client.send(.post, "/api/v1/auth/login", json: ["email": email, "password": "guess-guess"])
                expectError(wrong, .unauthorized, code: "invalid_credentials")
            }
            // During the wait even the right password is refused, or the answer would give it away.
            let waiting = try await client.send(
                .post, "/api/v1/auth/login", json: ["email": email, "password": server.firstOperator.password])
            expectError(waiting, .tooManyRequests, code: "too_many_attempts")
            let retryAfter = try #require(waiting.headers[HTTPFields.Element.Name("Retry-After")!].flatMap { Int($0) })
            #expect((1...60).contains(retryAfter))

            server.clock.advance(by: TimeInterval(retryAfter))
            _ = try await client.signIn(email, server.firstOperator.password)
        }
    }

    @Test func logoutEndsTheSignIn() async throws {
        try await TestServer.run { server, client in
            let token = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
            let logout = try await client.send(.post, "/api/v1/auth/logout", token: token)
            #expect(logout.status == .noContent)
            #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            expectError(try await client.send(.get, "/api/v1/auth/me", token: token), .unauthorized, code: "invalid_token")
        }
    }

    @Test func forgedAndExpiredTokensAreRefused() async throws {
        try await TestServer.run { server, client in
            let token = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
            expectError(try await client.send(.get, "/api/v1/auth/me", token: token + "x"), .unauthorized, code: "invalid_token")
            expectError(try await client.send(.get, "/api/v1/auth/me", headers: [.authorization: "Basic Zm9vOmJhcg=="]), .unauthorized)
            expectError(try await client.send(.get, "/api/v1/auth/me"), .unauthorized, code: "unauthenticated")
            #expect(try await client.send(.get, "/api/v1/auth/me", token: token).status == .ok)

            server.clock.advance(by: 12 * 3600 + 1)
            expectError(try await client.send(.get, "/api/v1/auth/me", token: token), .unauthorized, code: "invalid_token")
        }
    }
}
