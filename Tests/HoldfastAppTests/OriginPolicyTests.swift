import HoldfastHTTP
import Testing

/// Which requests count as coming from the service's own pages.
@Suite("Origin policy")
struct OriginPolicyTests {
    @Test func originsAreComparedBySchemeHostAndPortWithDefaultPortsFilledIn() throws {
        let origin = try #require(WebOrigin("https://Holdfast.Example.com/"))
        #expect(origin == WebOrigin("https://holdfast.example.com:443"))
        #expect(origin.description == "https://holdfast.example.com")
        #expect(origin != WebOrigin("http://holdfast.example.com"))
        #expect(origin != WebOrigin("https://holdfast.example.com:8443"))
        #expect(WebOrigin("http://127.0.0.1:8080")?.description == "http://127.0.0.1:8080")
        for malformed in [
            "null", "", "holdfast.example.com", "file:///etc/passwd", "https://user@holdfast.example.com",
            "javascript:alert(1)", "https://", "https://host:99999",
        ] {
            #expect(WebOrigin(malformed) == nil, "\(malformed)")
        }
    }

    @Test func withAPublicURLOnlyItsOriginIsOurs() {
        let policy = OriginPolicy(publicOrigin: WebOrigin("https://holdfast.example.com"))
        #expect(policy.check(origin: "https://holdfast.example.com", host: "anything") == .sameOrigin)
        // The Host header does not count once the public origin is known (DNS rebinding).
        #expect(policy.check(origin: "https://evil.example", host: "evil.example") == .foreign("https://evil.example"))
        #expect(policy.check(origin: "http://holdfast.example.com", host: nil) == .foreign("http://holdfast.example.com"))
        #expect(policy.check(origin: nil, host: nil) == .absent)
        #expect(policy.check(origin: "null", host: nil) == .foreign("null"))
    }

    @Test func withoutAPublicURLTheHostTheRequestWasAddressedToIsOurs() {
        let policy = OriginPolicy()
        #expect(policy.check(origin: "http://127.0.0.1:8080", host: "127.0.0.1:8080") == .sameOrigin)
        // Behind a TLS proxy the browser's origin is https with the same host.
        #expect(policy.check(origin: "https://desk.example", host: "desk.example") == .sameOrigin)
        #expect(policy.check(origin: "https://evil.example", host: "127.0.0.1:8080") == .foreign("https://evil.example"))
        #expect(policy.check(origin: "http://127.0.0.1:8081", host: "127.0.0.1:8080") == .foreign("http://127.0.0.1:8081"))
        #expect(policy.check(origin: "http://127.0.0.1:8080", host: nil) == .foreign("http://127.0.0.1:8080"))
        #expect(policy.check(origin: "http://a.example", host: "a.example/../evil") == .foreign("http://a.example"))
    }

    @Test func aCookieWriteNeedsOurOriginOrASameOriginFetch() {
        let policy = OriginPolicy(publicOrigin: WebOrigin("https://holdfast.example.com"))
        #expect(policy.allowsCookieWrite(origin: "https://holdfast.example.com", fetchSite: nil, host: nil))
        #expect(policy.allowsCookieWrite(origin: nil, fetchSite: "same-origin", host: nil))
        #expect(!policy.allowsCookieWrite(origin: nil, fetchSite: "same-site", host: nil))
        #expect(!policy.allowsCookieWrite(origin: nil, fetchSite: "cross-site", host: nil))
        #expect(!policy.allowsCookieWrite(origin: nil, fetchSite: nil, host: nil))
        // A foreign Origin is refused whatever Sec-Fetch-Site claims.
        #expect(!policy.allowsCookieWrite(origin: "https://evil.example", fetchSite: "same-origin", host: nil))
    }

    @Test func onlyPathsOnThisSiteAreWhereASignInLeads() {
        for path in ["/", "/sessions/1?x=1", "/support#new", "/%5Cevil.example"] {
            #expect(OriginPolicy.localPath(path) == path, "\(path)")
        }
        // What reaches us after the query is decoded once: each of these a browser reads as another site.
        for path in [
            "//evil.example", "/\\evil.example", "/\tevil.example", "/\t/evil.example", "https://evil.example", "evil.example",
            " /x", "/x\ny", "", "\\\\evil.example",
        ] {
            #expect(OriginPolicy.localPath(path) == nil, "\(path)")
        }
        #expect(OriginPolicy.localPath(nil) == nil)
    }
}
