import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// The versions API and page over the in-memory backup driver: only one's own snapshots,
/// restores beside the live copy, and every bad input refused without effect.
@Suite("Workspace API")
struct WorkspaceAPITests {
    /// Starts and closes a session for the acme member after writing `notes/today.txt`; the
    /// close takes the final snapshot. Returns the snapshot id and the workspace path.
    static func snapshotted(_ server: TestServer, _ client: any TestClientProtocol, token: String) async throws -> (String, String) {
        let started = try await client.send(.post, "/api/v1/sessions", token: token, json: ["kind": "terminal"])
        let id = try #require(JSON(started.body)["id"].string)
        let workspace = try #require(server.host.launches.last?.workspace)
        try FileManager.default.createDirectory(atPath: workspace + "/notes", withIntermediateDirectories: true)
        try Data("monday".utf8).write(to: URL(fileURLWithPath: workspace + "/notes/today.txt"))
        let closed = try await client.closeSession(id, token: token)
        #expect(closed["state"].string == "closed")
        let listed = try await client.send(.get, "/api/v1/workspace/snapshots", token: token)
        #expect(listed.status == .ok)
        let snapshot = try #require(JSON(listed.body)["items"][0]["id"].string)
        #expect(JSON(listed.body)["items"][0]["sessionId"].string == id)
        return (snapshot, workspace)
    }

    @Test func aMemberBrowsesASnapshotAndRestoresAFolderBesideTheLiveCopy() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let (snapshot, workspace) = try await Self.snapshotted(server, client, token: tenants.acmeMember)
            try Data("tuesday".utf8).write(to: URL(fileURLWithPath: workspace + "/notes/today.txt"))

            let top = try await client.send(.get, "/api/v1/workspace/snapshots/\(snapshot)/files", token: tenants.acmeMember)
            #expect(JSON(top.body)["items"].array.map { $0["name"].string } == ["notes"])
            #expect(JSON(top.body)["items"][0]["kind"].string == "directory")
            let inside = try await client.send(
                .get, "/api/v1/workspace/snapshots/\(snapshot.prefix(8))/files?path=notes", token: tenants.acmeMember)
            #expect(JSON(inside.body)["items"][0]["path"].string == "notes/today.txt")

            let restored = try await client.send(
                .post, "/api/v1/workspace/restore", token: tenants.acmeMember, json: ["snapshot": snapshot, "path": "notes"])
            #expect(restored.status == .created, "\(String(buffer: restored.body))")
            let restoredTo = try #require(JSON(restored.body)["restoredTo"].string)
            #expect(restoredTo.hasPrefix("Restored 20") && restoredTo.hasSuffix("/notes"))
            #expect(FileManager.default.contents(atPath: workspace + "/" + restoredTo + "/today.txt") == Data("monday".utf8))
            #expect(FileManager.default.contents(atPath: workspace + "/notes/today.txt") == Data("tuesday".utf8))
            let audit = try await client.send(.get, "/api/v1/audit?tenant=acme", token: tenants.operatorToken)
            let restores = JSON(audit.body)["items"].array.filter { $0["action"].string == "workspace.restored" }
            #expect(restores.count == 1)
            #expect(restores.first?["actor"].string == "member@acme.test")
            #expect(restores.first?["detail"].string == "snapshot \(snapshot), path notes")

            let page = try await client.send(.get, "/workspace?snapshot=\(snapshot)&path=notes", token: tenants.acmeMember)
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("today.txt"))
            #expect(String(buffer: page.body).contains("Restore beside"))
        }
    }

    @Test func badRestoresAreRefusedAndTouchNothing() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let (snapshot, workspace) = try await Self.snapshotted(server, client, token: tenants.acmeMember)
            let before = try FileManager.default.subpathsOfDirectory(atPath: workspace).sorted()

            for path in ["../etc", "notes/../../x", "/etc/passwd", "notes//today.txt", "./notes"] {
                let response = try await client.send(
                    .post, "/api/v1/workspace/restore", token: tenants.acmeMember, json: ["snapshot": snapshot, "path": path])
                expectError(response, .unprocessableContent, code: "invalid_path")
            }
            let notThere = try await client.send(
                .post, "/api/v1/workspace/restore", token: tenants.acmeMember, json: ["snapshot": snapshot, "path": "nope"])
            expectError(notThere, .notFound)
            for id in ["zzzzzzzz", "1234", "'; rm -rf /", String(repeating: "a", count: 65)] {
                let response = try await client.send(
                    .post, "/api/v1/workspace/restore", token: tenants.acmeMember, json: ["snapshot": id, "path": "notes"])
                expectError(response, .unprocessableContent, code: "invalid_snapshot_id")
            }
            let missingField = try await client.send(
                .post, "/api/v1/workspace/restore", token: tenants.acmeMember, json: ["snapshot": snapshot])
            expectError(missingField, .badRequest)
            let traversal = try await client.send(
                .get, "/api/v1/workspace/snapshots/\(snapshot)/files?path=..", token: tenants.acmeMember)
            expectError(traversal, .unprocessableContent, code: "invalid_path")

            // Another user, in the same tenant or not, cannot name it.
            for token in [tenants.acmeAdmin, tenants.globexAdmin] {
                let theirs = try await client.send(
                    .post, "/api/v1/workspace/restore", token: token, json: ["snapshot": snapshot, "path": "notes"])
                expectError(theirs, .notFound)
                let browse = try await client.send(.get, "/api/v1/workspace/snapshots/\(snapshot)/files", token: token)
                expectError(browse, .notFound)
                let list = try await client.send(.get, "/api/v1/workspace/snapshots", token: token)
                #expect(JSON(list.body)["items"].array.isEmpty)
            }
            let unauthenticated = try await client.send(.get, "/api/v1/workspace/snapshots")
            expectError(unauthenticated, .unauthorized)
            #expect(try FileManager.default.subpathsOfDirectory(atPath: workspace).sorted() == before)
        }
    }

    @Test func anUnreachableStoreIsA503AndThePageSaysSo() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            server.backups.setUnreachable(true)
            let listed = try await client.send(.get, "/api/v1/workspace/snapshots", token: tenants.acmeMember)
            expectError(listed, .serviceUnavailable, code: "backup_repository_unavailable")
            let page = try await client.send(.get, "/workspace", token: tenants.acmeMember)
            #expect(page.status == .serviceUnavailable)
            #expect(String(buffer: page.body).contains("cannot be reached"))
        }
    }

    @Test func operatorsSetATenantsRetentionAndBadPoliciesAreRefused() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let standard = try await client.send(.get, "/api/v1/tenants/acme", token: tenants.operatorToken)
            #expect(JSON(standard.body)["retention"]["keepLast"].value as? Int == 10)
            let policy: [String: Any] = ["keepLast": 3, "keepHourly": 0, "keepDaily": 14, "keepWeekly": 8]
            let changed = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.operatorToken, json: ["retention": policy])
            #expect(changed.status == .ok, "\(String(buffer: changed.body))")
            #expect(JSON(changed.body)["retention"]["keepDaily"].value as? Int == 14)
            let bad = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.operatorToken,
                json: ["retention": ["keepLast": 0, "keepHourly": 0, "keepDaily": 0, "keepWeekly": 0]])
            expectError(bad, .unprocessableContent, code: "invalid_retention")
            let byAdmin = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["retention": policy])
            expectError(byAdmin, .forbidden)
            let after = try await client.send(.get, "/api/v1/tenants/acme", token: tenants.operatorToken)
            #expect(JSON(after.body)["retention"]["keepLast"].value as? Int == 3)
        }
    }
}
