// `HoldfastBench backup`: Holdfast's restic driver on one workspace — first snapshot, incremental
// snapshots of the unchanged workspace, and a full restore — timed from the caller's side, so the
// figures include everything the server adds around restic (password file, JSON parsing, the
// read-back that verifies each snapshot, the staging folder and rename of a restore).
//
//     HoldfastBench backup --workspace DIR --repository local:DIR|s3:URL --scratch DIR
//         [--incremental 5] [--output FILE]
//
// `bench/backup_bench.py` runs it beside restic's own command line on the same data.

import Foundation
import HoldfastBackup
import HoldfastCore
import HoldfastHost
import Logging

struct BackupBenchmarkOptions {
    var workspace = ""
    var repository = ""
    var scratch = ""
    var incremental = 5
    var output: String?

    static func parse(_ arguments: ArraySlice<String>) -> BackupBenchmarkOptions {
        var options = BackupBenchmarkOptions()
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { Self.usage("\(flag) needs a value") }
            switch flag {
            case "--workspace": options.workspace = value
            case "--repository": options.repository = value
            case "--scratch": options.scratch = value
            case "--output": options.output = value
            case "--incremental":
                guard let count = Int(value), count >= 1 else { Self.usage("--incremental takes a count of at least 1") }
                options.incremental = count
            default: Self.usage("unknown option \(flag)")
            }
        }
        guard !options.workspace.isEmpty, !options.repository.isEmpty, !options.scratch.isEmpty else {
            Self.usage("--workspace, --repository and --scratch are required")
        }
        return options
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(
            Data(
                ("HoldfastBench backup: \(message)\nusage: HoldfastBench backup --workspace DIR --repository local:DIR|s3:URL "
                    + "--scratch DIR [--incremental N] [--output FILE]\n").utf8))
        exit(2)
    }
}

func runBackupBenchmark(_ options: BackupBenchmarkOptions) async throws {
    var logger = Logger(label: "holdfast.bench")
    logger.logLevel = .warning
    let driver = ResticBackupDriver(
        configuration: .init(
            repository: try RepositoryLocation.parse(options.repository), secretsDirectory: options.scratch + "/secrets",
            cacheDirectory: options.scratch + "/cache", initialisationGroup: try? ThrottledGroup.prepare().procsFile),
        logger: logger)
    let tenant = Tenant.ID()
    let user = User.ID()
    let clock = ContinuousClock()

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    var first: BackupSummary?
    let firstTime = try await clock.measure {
        first = try await driver.backup(workspace: options.workspace, tenant: tenant, user: user, session: nil) { _ in }
    }
    guard let first else { return }
    print(
        "first snapshot: \(String(format: "%.2f", seconds(firstTime))) s, \(first.totalFiles) files, "
            + "\(ByteText.format(first.totalBytes)), \(ByteText.format(first.bytesAdded)) added")
    var incremental: [Double] = []
    for run in 1...options.incremental {
        var summary: BackupSummary?
        let time = try await clock.measure {
            summary = try await driver.backup(workspace: options.workspace, tenant: tenant, user: user, session: nil) { _ in }
        }
        incremental.append(seconds(time))
        print(
            "incremental \(run): \(String(format: "%.2f", seconds(time))) s, \(summary?.filesUnmodified ?? 0) unchanged, "
                + "\(ByteText.format(summary?.bytesAdded ?? 0)) added")
    }
    let target = options.scratch + "/restored-\(UUID().uuidString)"
    var restored: RestoreSummary?
    let restoreTime = try await clock.measure {
        restored = try await driver.restore(
            tenant: tenant, user: user, snapshot: first.snapshot.id, path: .root, into: target, progress: { _ in })
    }
    print("restore: \(String(format: "%.2f", seconds(restoreTime))) s, \(restored?.files ?? 0) files")
    try? FileManager.default.removeItem(atPath: target)

    let result: [String: Any] = [
        "repository": options.repository.hasPrefix("s3:") ? "s3" : "local",
        "files": first.totalFiles, "bytes": first.totalBytes,
        "first_s": seconds(firstTime), "incremental_s": incremental, "restore_s": seconds(restoreTime),
    ]
    let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
    if let output = options.output {
        try json.write(to: URL(fileURLWithPath: output))
    } else {
        print(String(decoding: json, as: UTF8.self))
    }
}
