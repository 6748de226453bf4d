import Foundation
import Glibc
import HoldfastCore
import NIOCore
import Testing

@testable import HoldfastHost

/// The files API's view of a workspace: paths resolved beneath the root, uploads renamed into
/// place, the trash, listings, and archives checked with Python's own zip and tar readers.
@Suite("WorkspaceTree")
struct WorkspaceTreeTests {
    @Test func linksOutOfTheWorkspaceAreRefusedInTheKernel() throws {
        try withTree { tree, outside in
            try "secret".write(toFile: outside + "/secret", atomically: true, encoding: .utf8)
            #expect(symlink(outside, tree.root + "/out") == 0)
            #expect(symlink("../../", tree.root + "/up") == 0)
            #expect(symlink("docs", tree.root + "/inside") == 0)
            try FileManager.default.createDirectory(atPath: tree.root + "/docs", withIntermediateDirectories: false)
            try "mine".write(toFile: tree.root + "/docs/a.txt", atomically: true, encoding: .utf8)

            for path in ["out/secret", "up", "out"] {
                #expect(throws: CoreError.self) { _ = try tree.openForReading(WorkspacePath(path)) }
                do throws(CoreError) {
                    _ = try tree.openForReading(WorkspacePath(path))
                } catch {
                    #expect(error.code == "outside_workspace", "\(path): \(error)")
                }
            }
            // A link that stays inside is followed.
            let (file, info) = try tree.openForReading(WorkspacePath("inside/a.txt"))
            #expect(info.kind == .file && info.size == 4)
            let bytes = try WorkspaceTree.read(file, at: 0, count: 10, allocator: ByteBufferAllocator())
            #expect(String(buffer: bytes) == "mine")
            // Nothing is made through a link out.
            #expect(throws: CoreError.self) { try tree.makeFolder(WorkspacePath("out/new")) }
            #expect(!FileManager.default.fileExists(atPath: outside + "/new"))
        }
    }

    @Test func anUploadAppearsWholeOwnedByTheUserAndNeverReplacesWithoutOverwrite() throws {
        try withTree(owner: UnixAccount(uid: 4242, gid: 4343)) { tree, _ in
            let part = try tree.uploadFile("one.part", create: true)
            try WorkspaceTree.write(ByteBuffer(string: "hello"), to: part, at: 0)
            #expect(!FileManager.default.fileExists(atPath: tree.root + "/a/b/hello.txt"))
            let info = try tree.commitUpload("one.part", to: WorkspacePath("a/b/hello.txt"), overwrite: false)
            #expect(info.size == 5)
            var status = stat()
            #expect(stat(tree.root + "/a/b/hello.txt", &status) == 0)
            #expect(status.st_uid == 4242 && status.st_gid == 4343 && status.st_mode & 0o777 == 0o644)
            #expect(stat(tree.root + "/a", &status) == 0 && status.st_uid == 4242)

            let again = try tree.uploadFile("two.part", create: true)
            try WorkspaceTree.write(ByteBuffer(string: "other"), to: again, at: 0)
            #expect {
                try tree.commitUpload("two.part", to: WorkspacePath("a/b/hello.txt"), overwrite: false)
            } throws: { ($0 as? CoreError)?.code == "file_exists" }
            #expect(try String(contentsOfFile: tree.root + "/a/b/hello.txt", encoding: .utf8) == "hello")
            _ = try tree.commitUpload("two.part", to: WorkspacePath("a/b/hello.txt"), overwrite: true)
            #expect(try String(contentsOfFile: tree.root + "/a/b/hello.txt", encoding: .utf8) == "other")
            #expect {
                try tree.commitUpload("two.part", to: WorkspacePath("a"), overwrite: true)
            } throws: { ($0 as? CoreError)?.kind == .notFound }
        }
    }

    @Test func aDeleteMovesIntoTheTrashUnderAFreeName() throws {
        try withTree { tree, _ in
            for _ in 0..<2 {
                try "x".write(toFile: tree.root + "/report.pdf", atomically: true, encoding: .utf8)
                _ = try tree.trash(WorkspacePath("report.pdf"))
            }
            let trashed = try FileManager.default.contentsOfDirectory(atPath: tree.root + "/.trash").sorted()
            #expect(trashed == ["report (2).pdf", "report.pdf"])
            #expect(!FileManager.default.fileExists(atPath: tree.root + "/report.pdf"))
            for inTrash in [".trash/report.pdf", ".trash"] {
                #expect {
                    _ = try tree.trash(WorkspacePath(inTrash))
                } throws: { ($0 as? CoreError)?.code == "already_in_trash" }
            }
        }
    }

    @Test func aListingIsPagedInByteOrderAndNamesAreChecked() throws {
        try withTree { tree, _ in
            for name in ["b", "a", "c", "d"] { #expect(mkdir(tree.root + "/" + name, 0o755) == 0) }
            let first = try tree.list(.root, after: nil, limit: 3)
            #expect(first.entries.map(\.text) == ["a", "b", "c"] && first.more)
            let second = try tree.list(.root, after: Array("c".utf8), limit: 3)
            #expect(second.entries.map(\.text) == ["d"] && !second.more)
            #expect(throws: CoreError.self) { _ = try WorkspaceTree.checkedName(WorkspacePath("line\nbreak")) }
            #expect(throws: CoreError.self) { _ = try WorkspaceTree.checkedName(WorkspacePath(String(repeating: "x", count: 256))) }
        }
    }

    @Test(arguments: WorkspaceArchive.Format.allCases)
    func aFolderArchivesToWhatPythonReadsBack(format: WorkspaceArchive.Format) throws {
        try withTree { tree, outside in
            let project = tree.root + "/project"
            try FileManager.default.createDirectory(atPath: project + "/src", withIntermediateDirectories: true)
            try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: project + "/src/big.bin"))
            try "é".write(toFile: project + "/résumé.txt", atomically: true, encoding: .utf8)
            try "long".write(toFile: project + "/" + String(repeating: "n", count: 150), atomically: true, encoding: .utf8)
            #expect(symlink(outside, project + "/out") == 0)
            #expect(mkfifo(project + "/fifo", 0o600) == 0)

            let (folder, _) = try tree.openForReading(WorkspacePath("project"))
            let archive = try WorkspaceArchive(folder: folder, name: "project", format: format)
            var bytes = Data()
            while let piece = try archive.next(allocator: ByteBufferAllocator()) {
                bytes.append(contentsOf: piece.readableBytesView)
            }
            let file = outside + "/archive"
            try bytes.write(to: URL(fileURLWithPath: file))
            let listing = try python(
                format == .zip
                    ? "import zipfile,sys,hashlib; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; "
                        + "print('\\n'.join(f'{i.filename} {hashlib.sha256(z.read(i)).hexdigest()[:12]}' for i in z.infolist()))"
                    : "import tarfile,sys,hashlib; t=tarfile.open(sys.argv[1]); "
                        + "print('\\n'.join(f'{m.name}{\"/\" if m.isdir() else \"\"} ' + (hashlib.sha256(t.extractfile(m).read()).hexdigest()[:12] if m.isfile() else m.linkname if m.issym() else hashlib.sha256(b\"\").hexdigest()[:12]) for m in t.getmembers()))",
                file)
            let lines = Set(listing.split(separator: "\n").map(String.init))
            let big = try python(
                "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest()[:12])", project + "/src/big.bin")
            #expect(lines.contains("project/src/big.bin \(big)"))
            #expect(lines.contains { $0.hasPrefix("project/résumé.txt ") })
            #expect(lines.contains { $0.hasPrefix("project/" + String(repeating: "n", count: 150) + " ") })
            #expect(lines.contains { $0.hasPrefix("project/out") })
            #expect(!lines.contains { $0.hasPrefix("project/fifo") })
            if format == .tarGzip { #expect(lines.contains("project/out \(outside)")) }
        }
    }

    @Test func foldersNestedDeeperThanTheCapAreLeftOutNotFollowed() throws {
        try withTree { tree, _ in
            var path = tree.root
            for _ in 0..<(WorkspaceArchive.deepestFolder + 10) {
                path += "/d"
                #expect(mkdir(path, 0o755) == 0)
            }
            try "deep".write(toFile: path + "/leaf.txt", atomically: true, encoding: .utf8)
            let open = { () -> Int in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
            let before = open()
            let archive = try WorkspaceArchive(folder: try tree.openForReading(.root).0, name: "", format: .zip)
            var most = 0
            var bytes = Data()
            while let piece = try archive.next(allocator: ByteBufferAllocator()) {
                bytes.append(contentsOf: piece.readableBytesView)
                most = max(most, open() - before)
            }
            #expect(!bytes.isEmpty && most <= WorkspaceArchive.deepestFolder + 8)
            #expect(bytes.range(of: Data("leaf.txt".utf8)) == nil)
        }
    }

    private func python(_ program: String, _ argument: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", program, argument]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3 could not read the archive")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func withTree(owner: UnixAccount? = nil, _ body: (WorkspaceTree, String) throws -> Void) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-tree-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        for folder in ["/home", "/uploads", "/outside"] {
            try FileManager.default.createDirectory(atPath: base + folder, withIntermediateDirectories: true)
        }
        try body(WorkspaceTree(root: base + "/home", uploadsDirectory: base + "/uploads", owner: owner), base + "/outside")
    }
}
