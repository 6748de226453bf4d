import Foundation
import HoldfastCore

/// The JSON restic 0.14 prints, decoded leniently: every number is optional because restic
/// leaves out zero values, and unknown fields are ignored.
enum ResticOutput {
    /// One line of `restic backup --json`: a `status` while it runs, a `summary` at the end.
    struct BackupMessage: Decodable {
        var messageType: String
        var percentDone: Double?
        var totalFiles: Int?
        var filesDone: Int?
        var totalBytes: Int64?
        var bytesDone: Int64?
        var snapshotId: String?
        var filesNew: Int?
        var filesChanged: Int?
        var filesUnmodified: Int?
        var dataAdded: Int64?
        var totalFilesProcessed: Int?
        var totalBytesProcessed: Int64?
    }

    /// A snapshot as `restic snapshots --json` and the first line of `restic ls --json` print it.
    struct Snapshot: Decodable {
        var id: String
        var time: String
        var tags: [String]?
        var paths: [String]?
        var hostname: String?
    }

    /// A file, folder or link as `restic ls --json` prints it; `path` is absolute in the snapshot.
    struct Node: Decodable {
        var name: String
        var type: String
        var path: String
        var size: Int64?
        var mtime: String?
    }

    /// Decodes one JSON value; malformed output becomes an `.unavailable` error.
    static func decode<Value: Decodable>(_ type: Value.Type, from text: String, command: String) throws(CoreError) -> Value {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw .unreadableOutput(command, "\(error)".prefix(300) + " in: " + text.prefix(200))
        }
    }

    /// The `struct_type` of an `ls --json` line.
    private struct LineKind: Decodable {
        var structType: String?
    }

    /// Splits `ls --json` output into its snapshot line and its nodes.
    static func listing(_ lines: [String]) throws(CoreError) -> [Node] {
        var nodes: [Node] = []
        for line in lines where !line.isEmpty {
            let kind = try Self.decode(LineKind.self, from: line, command: "ls")
            if kind.structType == "node" {
                nodes.append(try Self.decode(Node.self, from: line, command: "ls"))
            }
        }
        return nodes
    }

    /// The files a backup could not read, from the JSON error lines restic prints on standard
    /// error (`{"message_type":"error",…,"during":"archival","item":"/ws/a.txt"}`), relative to
    /// `workspace`, in the order reported.
    static func unreadableItems(in errorOutput: String, workspace: String) -> [String] {
        struct ErrorLine: Decodable {
            var messageType: String
            var item: String?
            enum CodingKeys: String, CodingKey {
                case messageType = "message_type"
                case item
            }
        }
        let prefix = workspace.hasSuffix("/") ? workspace : workspace + "/"
        return errorOutput.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"), let parsed = try? JSONDecoder().decode(ErrorLine.self, from: Data(line.utf8)),
                parsed.messageType == "error", let item = parsed.item
            else { return nil }
            return item.hasPrefix(prefix) ? String(item.dropFirst(prefix.count)) : item
        }
    }

    /// The core's snapshot for a restic snapshot of `user`, or `nil` when it is not tagged for that user.
    static func snapshot(_ snapshot: Snapshot, of user: User.ID) throws(CoreError) -> HoldfastCore.Snapshot? {
        let tags = snapshot.tags ?? []
        guard tags.contains(ResticTags.user(user)) else { return nil }
        guard HoldfastCore.Snapshot.isWellFormedID(snapshot.id), snapshot.id.count == 64 else {
            throw .unreadableOutput("snapshots", "'\(snapshot.id.prefix(80))' is not a snapshot id")
        }
        guard let time = Self.time(snapshot.time) else {
            throw .unreadableOutput("snapshots", "'\(snapshot.time.prefix(80))' is not a time")
        }
        let session = tags.lazy.compactMap(ResticTags.session(in:)).first
        return HoldfastCore.Snapshot(
            id: snapshot.id, time: time, userID: user, sessionID: session, isEmpty: tags.contains(ResticTags.empty))
    }

    /// The core's entry for a node, with its workspace-relative path.
    static func entry(_ node: Node) -> SnapshotEntry {
        let kind: SnapshotEntry.Kind
        switch node.type {
        case "file": kind = .file
        case "dir": kind = .directory
        case "symlink": kind = .symlink
        default: kind = .other
        }
        return SnapshotEntry(
            path: String(node.path.drop(while: { $0 == "/" })), name: node.name, kind: kind, size: node.size ?? 0,
            modifiedAt: node.mtime.flatMap(Self.time))
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar
    }()

    /// Parses Go's RFC 3339 time with nanoseconds (`2026-11-26T18:20:38.47799482Z`, `…+01:00`),
    /// which Foundation's ISO 8601 parsers do not all accept.
    static func time(_ text: String) -> Date? {
        let characters = Array(text)
        guard characters.count >= 20, characters[4] == "-", characters[7] == "-", characters[10] == "T",
            characters[13] == ":", characters[16] == ":"
        else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(characters[range])) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if characters[index] == "." {
            let start = index + 1
            index = start
            while index < characters.count, characters[index].isASCII, characters[index].isNumber { index += 1 }
            guard index > start, let value = Double("0." + String(characters[start..<index])) else { return nil }
            fraction = value
        }
        guard index < characters.count else { return nil }
        var offset = 0
        let sign = characters[index]
        if sign == "Z", index + 1 == characters.count {
            offset = 0
        } else if sign == "+" || sign == "-", index + 6 == characters.count, characters[index + 3] == ":",
            let hours = number(index + 1..<index + 3), let minutes = number(index + 4..<index + 6)
        {
            offset = (hours * 3600 + minutes * 60) * (sign == "-" ? -1 : 1)
        } else {
            return nil
        }
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let date = Self.utc.date(from: components) else { return nil }
        return date.addingTimeInterval(fraction - Double(offset))
    }
}

/// The tags the driver puts on every snapshot, and reads back.
enum ResticTags {
    /// Marks snapshots made by Holdfast, so an operator can tell them from hand-made ones.
    static let holdfast = "holdfast"

    static func user(_ user: User.ID) -> String { "user=\(user)" }
    /// The workspace was empty: the snapshot holds only `ResticTags.emptyMarker`.
    static let empty = "empty"
    /// What an empty workspace's snapshot holds (restic 0.14 refuses to store an empty snapshot).
    static let emptyMarker = ".holdfast-empty"
    static func session(_ session: Session.ID) -> String { "session=\(session)" }

    static func session(in tag: String) -> Session.ID? {
        guard tag.hasPrefix("session=") else { return nil }
        return Session.ID(String(tag.dropFirst("session=".count)))
    }
}
