import Foundation
import HoldfastBackup
import HoldfastCore
import HoldfastHost
import Testing

/// A new tenant repository's key is cheap to open when `restic init` runs in the throttled group.
///
/// restic sizes the key derivation of a new repository to half a second of the machine running
/// init, and every later command pays it. These tests read the key file restic wrote.
@Suite("Restic key cost")
struct KeyCostTests {
    /// scrypt's cost (N × p, with r = 8) of the key files in a local repository.
    func keyCosts(_ repository: String) throws -> [Int] {
        let folder = repository + "/keys"
        return try FileManager.default.contentsOfDirectory(atPath: folder).map { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            let key = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(key["kdf"] as? String == "scrypt")
            #expect(key["r"] as? Int == 8)
            return try #require(key["N"] as? Int) * (try #require(key["p"] as? Int))
        }
    }

    @Test func aRepositoryMadeInTheThrottledGroupOpensCheaplyAndWorks() async throws {
        try await withFixture { fixture in
            let group = try ThrottledGroup.prepare(name: "holdfast-test-\(UUID().uuidString.prefix(8))")
            defer { try? group.remove() }
            let driver = fixture.driver(initialisationGroup: group.procsFile)
            let workspace = try fixture.workspace("ws", ["a.txt": Array("one\n".utf8)])
            let user = User.ID()
            let summary = try await driver.backup(
                workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            // restic's own calibration at full speed on an idle host picks N = 32768 (its 60 MiB
            // memory bound) and p = 9 here; throttled to 5 % of a CPU it measures a slow machine.
            // (No contrast test: on a loaded host restic's own pick drifts lower, so it is no baseline.)
            let costs = try self.keyCosts(fixture.tenantRepository)
            #expect(costs.count == 1)
            #expect(costs.allSatisfy { $0 <= 16_384 }, "key cost N×p \(costs): restic calibrated at full speed")
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: user) == [summary.snapshot])
            // The group holds no process once init has ended (restic did not leave one behind).
            let members = try String(contentsOfFile: group.procsFile, encoding: .utf8)
            #expect(members.isEmpty)
        }
    }

    @Test func aGroupThatRefusesCostsSpeedNotTheRepository() async throws {
        try await withFixture { fixture in
            // A procs file that cannot be written (its group is gone): init runs, unthrottled.
            let driver = fixture.driver(initialisationGroup: fixture.root + "/no-such-group/cgroup.procs")
            let workspace = try fixture.workspace("ws", ["a.txt": Array("one\n".utf8)])
            let user = User.ID()
            let summary = try await driver.backup(
                workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: user) == [summary.snapshot])
        }
    }
}
