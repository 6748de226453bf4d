import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// Continuity plans over the API: version 1 for a new tenant, a new version when the
/// troubleshooters change (the old one still readable), three formats, and the roles.
@Suite("Continuity API")
struct ContinuityAPITests {
    static let people =
        #"[{"name":"Ann Lee","role":"On-call operator","email":"ann@acme.test","phone":"+44 20 7946 0000"},"#
        + #"{"name":"Bo Chen","role":"Head of IT","email":"bo@acme.test"}]"#

    @Test func plansAreVersionedWhenTheTroubleshootersChange() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let first = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery", token: tenants.acmeAdmin)
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            #expect(JSON(first.body)["version"].value as? Int == 1)
            #expect(JSON(first.body)["rpoSeconds"].value as? Int == 300)
            #expect(JSON(first.body)["rtoSeconds"].value as? Int == 3600)
            #expect(JSON(first.body)["lastDrill"].value is NSNull)
            #expect(JSON(first.body)["sections"].array.count > 10)

            let put = try await client.send(
                .put, "/api/v1/tenants/acme/troubleshooters", token: tenants.operatorToken, raw: Self.people)
            #expect(put.status == .ok, "\(String(buffer: put.body))")
            #expect(JSON(put.body)[0]["phone"].string == "+442079460000")
            let second = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery", token: tenants.acmeAdmin)
            #expect(JSON(second.body)["version"].value as? Int == 2)
            #expect(JSON(second.body)["troubleshooters"].array.map { $0["name"].string } == ["Ann Lee", "Bo Chen"])
            let unchanged = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery", token: tenants.acmeAdmin)
            #expect(JSON(unchanged.body)["version"].value as? Int == 2)
            let old = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery/versions/1", token: tenants.acmeAdmin)
            #expect(JSON(old.body)["troubleshooters"].array.isEmpty)
            let versions = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery/versions", token: tenants.acmeAdmin)
            #expect(JSON(versions.body)["items"].array.map { $0["version"].value as? Int } == [2, 1])

            let markdown = try await client.send(
                .get, "/api/v1/tenants/acme/plans/business-continuity", token: tenants.acmeAdmin, headers: [.accept: "text/markdown"])
            #expect(markdown.headers[.contentType]?.hasPrefix("text/markdown") == true)
            #expect(String(buffer: markdown.body).contains("Business Continuity Plan"))
            #expect(String(buffer: markdown.body).contains("Ann Lee"))
            let html = try await client.send(
                .get, "/api/v1/tenants/acme/plans/disaster-recovery?format=html", token: tenants.acmeAdmin)
            #expect(html.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(String(buffer: html.body).contains("@media print"))
        }
    }

    @Test func badTroubleshootersAndWrongCallersAreRefused() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let unreachable: [[String: Any]] = [["name": "Cy Diaz", "role": "Owner"]]
            let refused = try await client.send(
                .put, "/api/v1/tenants/acme/troubleshooters", token: tenants.operatorToken, raw: try Self.body(unreachable))
            #expect(refused.status == .unprocessableContent)
            #expect(JSON(refused.body)["error"]["code"].string == "troubleshooter_unreachable")
            let byAdmin = try await client.send(
                .put, "/api/v1/tenants/acme/troubleshooters", token: tenants.acmeAdmin, raw: Self.people)
            #expect(byAdmin.status == .forbidden)
            let list = try await client.send(.get, "/api/v1/tenants/acme/troubleshooters", token: tenants.acmeAdmin)
            #expect(JSON(list.body).array.isEmpty)
            let member = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery", token: tenants.acmeMember)
            #expect(member.status == .forbidden)
            let other = try await client.send(.get, "/api/v1/tenants/acme/plans/disaster-recovery", token: tenants.globexAdmin)
            #expect(other.status == .forbidden || other.status == .notFound)
            let unknownKind = try await client.send(.get, "/api/v1/tenants/acme/plans/fire-drill", token: tenants.acmeAdmin)
            #expect(unknownKind.status == .unprocessableContent)
            let report = try await client.send(.get, "/api/v1/tenants/acme/report", token: tenants.acmeAdmin)
            #expect(report.status == .ok)
            #expect(JSON(report.body)["recovery"]["rpoTargetSeconds"].value as? Int == 300)
            let page = try await client.send(.get, "/admin/report", token: tenants.acmeAdmin)
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("Promises kept: acme"))
            let foreign = try await client.send(.get, "/admin/report?tenant=acme", token: tenants.globexAdmin)
            #expect(foreign.status == .notFound || foreign.status == .forbidden)
            #expect(!String(buffer: foreign.body).contains("Promises kept"))
        }
    }

    static func body(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self)
    }
}
