import Foundation
import HTTPTypes
import HoldfastCore
import Hummingbird
import HummingbirdCore
import NIOCore

/// `/workspace/files`, `/workspace/folders`, `/workspace/moves` and `/workspace/uploads`: the
/// caller's live workspace files — list, download (with ranges, folders as a streamed archive),
/// upload (one request, or resumable with tus 1.0), new folder, move, delete to the trash.
struct WorkspaceFileRoutes {
    let files: any WorkspaceFileService

    /// The tus protocol version spoken (https://tus.io/protocols/resumable-upload, 1.0.0).
    static let tusVersion = "1.0.0"
    /// How many entries one listing page holds by default, and at most.
    static let defaultPage = 1000
    static let largestPage = 5000
    /// How much one read of a download sends.
    static let downloadPiece = 1 << 20

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("workspace/files", use: self.get)
        group.put("workspace/files", use: self.put)
        group.delete("workspace/files", use: self.delete)
        group.post("workspace/folders", use: self.makeFolder)
        group.post("workspace/moves", use: self.move)
        group.on("workspace/uploads", method: .options, use: self.options)
        group.post("workspace/uploads", use: self.createUpload)
        group.head("workspace/uploads/:id", use: self.uploadStatus)
        group.patch("workspace/uploads/:id", use: self.appendUpload)
        group.delete("workspace/uploads/:id", use: self.cancelUpload)
    }

    // MARK: Files

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let query = request.uri.formParameters
        let path = try Self.path(query["path"])
        if let list = query["list"], list == "1" || list == "true" {
            return try await self.list(path, request: request, context: context, user: user)
        }
        var format: WorkspaceArchiveFormat?
        if let text = query["format"] {
            guard let known = WorkspaceArchiveFormat(rawValue: String(text)) else {
                throw CoreError.invalidInput("invalid_format", "format must be zip or tar.gz (it was '\(text.prefix(40))').")
            }
            format = known
        }
        switch try await self.files.download(path, format: format, for: user) {
        case .file(let name, let reader):
            return try Self.fileResponse(name: name, reader: reader, request: request)
        case .archive(let name, let format, let stream):
            var headers = HTTPFields()
            headers[.contentType] = format.contentType
            headers[.contentDisposition] = Self.attachment("\(name.isEmpty ? "workspace" : name).\(format.rawValue)")
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    while let piece = try await stream.next() {
                        try await writer.write(piece)
                    }
                    try await writer.finish(nil)
                })
        }
    }

    private func list(_ path: WorkspacePath, request: Request, context: AppRequestContext, user: User) async throws -> Response {
        let query = request.uri.formParameters
        var limit = Self.defaultPage
        if let text = query["limit"] {
            guard let number = Int(text), (1...Self.largestPage).contains(number) else {
                throw CoreError.invalidInput("invalid_limit", "limit must be a number from 1 to \(Self.largestPage).")
            }
            limit = number
        }
        var after: [UInt8]?
        if let cursor = query["cursor"] {
            guard let bytes = Self.base64URLDecoded(cursor) else {
                throw CoreError.invalidInput("invalid_cursor", "cursor must be the nextCursor of the previous page.")
            }
            after = bytes
        }
        let page = try await self.files.list(path, after: after, limit: limit, for: user)
        let listing = FolderListingDTO(
            path: path.description,
            items: page.entries.map { FolderEntryDTO($0, in: path) },
            nextCursor: page.more ? page.entries.last.map { Self.base64URL($0.name) } : nil)
        return try listing.response(from: request, context: context)
    }

    @Sendable func put(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<FileDTO> {
        let user = try context.requireUser()
        let query = request.uri.formParameters
        let path = try Self.path(query["path"])
        let overwrite = query["overwrite"].map { $0 == "true" || $0 == "1" } ?? false
        let length = try request.headers[.contentLength].map { text -> Int64 in
            guard let value = Int64(text), value >= 0 else {
                throw CoreError.invalidInput("invalid_length", "Content-Length is not a size.")
            }
            return value
        }
        let info = try await self.files.save(path, overwrite: overwrite, length: length, body: request.body, for: user)
        return EditedResponse(status: .created, response: FileDTO(info))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> TrashedDTO {
        let user = try context.requireUser()
        let path = try Self.path(request.uri.formParameters["path"])
        let trashed = try await self.files.trash(path, for: user)
        return TrashedDTO(path: path.description, trashedTo: trashed.description)
    }

    struct FolderRequest: Decodable {
        var path: String
    }

    @Sendable func makeFolder(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<PathDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: FolderRequest.self, context: context)
        let path = try Self.path(body.path)
        try await self.files.makeFolder(path, for: user)
        return EditedResponse(status: .created, response: PathDTO(path: path.description))
    }

    struct MoveRequest: Decodable {
        var from: String
        var to: String
    }

    @Sendable func move(_ request: Request, context: AppRequestContext) async throws -> PathDTO {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: MoveRequest.self, context: context)
        let target = try Self.path(body.to)
        try await self.files.move(try Self.path(body.from), to: target, for: user)
        return PathDTO(path: target.description)
    }

    // MARK: tus 1.0 (core, creation, termination, expiration)

    @Sendable func options(_ request: Request, context: AppRequestContext) async throws -> Response {
        var headers = Self.tusHeaders()
        headers[Self.tusVersionHeader] = Self.tusVersion
        headers[Self.tusExtension] = "creation,termination,expiration"
        return Response(status: .noContent, headers: headers)
    }

    @Sendable func createUpload(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        try Self.checkTusVersion(request)
        guard let text = request.headers[Self.uploadLength], let length = Int64(text), length >= 0 else {
            if request.headers[Self.uploadDeferLength] != nil {
                throw CoreError.invalidInput(
                    "length_required", "Declare Upload-Length when creating an upload (creation-defer-length is not offered).")
            }
            throw CoreError.invalidInput("length_required", "Upload-Length (the file's size in bytes) is required.")
        }
        let metadata = try Self.metadata(request.headers[Self.uploadMetadata] ?? "")
        guard let pathText = metadata["path"] else {
            throw CoreError.invalidInput("invalid_path", "Upload-Metadata must carry the file's path: 'path BASE64'.")
        }
        let path = try Self.path(pathText)
        let overwrite = metadata["overwrite"].map { $0 == "true" || $0 == "1" } ?? false
        let upload = try await self.files.createUpload(path, length: length, overwrite: overwrite, for: user)
        var headers = Self.tusHeaders()
        headers[.location] = "/api/v1/workspace/uploads/\(upload.id)"
        headers[Self.uploadExpires] = Self.httpDate(upload.expiresAt)
        headers[Self.uploadOffset] = String(upload.offset)
        return Response(status: .created, headers: headers)
    }

    @Sendable func uploadStatus(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let upload = try await self.files.upload(try Self.uploadID(context), for: user)
        var headers = Self.tusHeaders()
        headers[Self.uploadOffset] = String(upload.offset)
        headers[Self.uploadLength] = String(upload.length)
        headers[Self.uploadExpires] = Self.httpDate(upload.expiresAt)
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers)
    }

    @Sendable func appendUpload(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        try Self.checkTusVersion(request)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/offset+octet-stream") == true else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "A PATCH to an upload must have Content-Type: application/offset+octet-stream.", headers: Self.tusHeaders())
        }
        guard let text = request.headers[Self.uploadOffset], let offset = Int64(text), offset >= 0 else {
            throw CoreError.invalidInput("invalid_offset", "Upload-Offset (where these bytes start) is required.")
        }
        let length = request.headers[.contentLength].flatMap { Int64($0) }
        let id = try Self.uploadID(context)
        let upload: WorkspaceUpload
        do {
            upload = try await self.files.append(to: id, at: offset, length: length, body: request.body, for: user)
        } catch let error as CoreError where error.code == "upload_offset_mismatch" {
            // The client resumes from the offset in this header (tus: 409 Conflict).
            let current = try await self.files.upload(id, for: user)
            var headers = Self.tusHeaders()
            headers[Self.uploadOffset] = String(current.offset)
            throw APIError(.conflict, code: error.code, message: error.message, headers: headers)
        }
        var headers = Self.tusHeaders()
        headers[Self.uploadOffset] = String(upload.offset)
        headers[Self.uploadExpires] = Self.httpDate(upload.expiresAt)
        return Response(status: .noContent, headers: headers)
    }

    @Sendable func cancelUpload(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        try Self.checkTusVersion(request)
        try await self.files.cancelUpload(try Self.uploadID(context), for: user)
        return Response(status: .noContent, headers: Self.tusHeaders())
    }

    // MARK: Helpers

    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let tusVersionHeader = HTTPField.Name("Tus-Version")!
    static let tusExtension = HTTPField.Name("Tus-Extension")!
    static let uploadLength = HTTPField.Name("Upload-Length")!
    static let uploadOffset = HTTPField.Name("Upload-Offset")!
    static let uploadMetadata = HTTPField.Name("Upload-Metadata")!
    static let uploadExpires = HTTPField.Name("Upload-Expires")!
    static let uploadDeferLength = HTTPField.Name("Upload-Defer-Length")!

    static func tusHeaders() -> HTTPFields {
        var headers = HTTPFields()
        headers[Self.tusResumable] = Self.tusVersion
        return headers
    }

    /// tus: a request in another version is refused with `412` and the version we speak.
    static func checkTusVersion(_ request: Request) throws {
        guard let version = request.headers[Self.tusResumable] else {
            throw APIError(
                .preconditionFailed, code: "tus_version_required",
                message: "Send Tus-Resumable: \(Self.tusVersion) with every upload request.", headers: Self.versionHeaders())
        }
        guard version == Self.tusVersion else {
            throw APIError(
                .preconditionFailed, code: "tus_version_unsupported",
                message: "This server speaks tus \(Self.tusVersion), not \(version.prefix(20)).", headers: Self.versionHeaders())
        }
    }

    private static func versionHeaders() -> HTTPFields {
        var headers = Self.tusHeaders()
        headers[Self.tusVersionHeader] = Self.tusVersion
        return headers
    }

    /// `key base64,key base64,…` (tus creation), values decoded as UTF-8.
    static func metadata(_ header: String) throws -> [String: String] {
        var pairs: [String: String] = [:]
        for item in header.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            guard let key = parts.first.map(String.init), !key.isEmpty else { continue }
            guard parts.count == 2 else {
                pairs[key] = ""
                continue
            }
            guard let data = Data(base64Encoded: String(parts[1])), let value = String(data: data, encoding: .utf8) else {
                throw CoreError.invalidInput(
                    "invalid_metadata", "Upload-Metadata value of '\(key.prefix(40))' is not base64 of UTF-8 text.")
            }
            pairs[key] = value
        }
        return pairs
    }

    static func uploadID(_ context: AppRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard id.count == 32, id.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw CoreError.notFound("There is no upload \(id.prefix(40)).")
        }
        return id
    }

    static func path(_ text: String?) throws -> WorkspacePath {
        try WorkspacePath(text ?? "")
    }

    /// A download: the whole file, or one range of it (`Range: bytes=…`, resumed downloads) when
    /// `If-Range` (if sent) still names this version of the file.
    static func fileResponse(name: String, reader: any WorkspaceFileReader, request: Request) throws -> Response {
        let size = reader.size
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.contentDisposition] = Self.attachment(name)
        headers[.acceptRanges] = "bytes"
        headers[.eTag] = "\"\(reader.entityTag)\""
        headers[.lastModified] = Self.httpDate(reader.modifiedAt)
        headers[.cacheControl] = "private, no-cache"
        var range: ClosedRange<Int64>? = nil
        if let header = request.headers[.range], Self.rangeApplies(request.headers[.ifRange], reader: reader) {
            switch ByteRange.parse(header, size: size) {
            case .whole: break
            case .part(let part): range = part
            case .unsatisfiable:
                var failure = HTTPFields()
                failure[.contentRange] = "bytes */\(size)"
                throw APIError(
                    .rangeNotSatisfiable, code: "range_not_satisfiable",
                    message: "The range asked for is outside the file, which is \(size) bytes long.", headers: failure)
            }
        }
        let start = range?.lowerBound ?? 0
        let end = range.map { $0.upperBound + 1 } ?? size
        if let range { headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)" }
        return Response(
            status: range == nil ? .ok : .partialContent, headers: headers,
            body: ResponseBody(contentLength: Int(end - start)) { writer in
                var offset = start
                while offset < end {
                    let piece = try await reader.read(at: offset, count: Int(min(Int64(Self.downloadPiece), end - offset)))
                    // A file that shrank meanwhile ends the body short: the client sees a cut and resumes.
                    guard piece.readableBytes > 0 else { break }
                    offset += Int64(piece.readableBytes)
                    try await writer.write(piece)
                }
                try await writer.finish(nil)
            })
    }

    /// `If-Range` names this file by its ETag or its time; anything else sends the whole file.
    static func rangeApplies(_ ifRange: String?, reader: any WorkspaceFileReader) -> Bool {
        guard let ifRange else { return true }
        return ifRange == "\"\(reader.entityTag)\"" || ifRange == Self.httpDate(reader.modifiedAt)
    }

    /// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
    static func attachment(_ name: String) -> String {
        let ascii = String(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "!#$&+-.^_`|~")
        let encoded = name.addingPercentEncoding(withAllowedCharacters: allowed) ?? ascii
        return "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .gmt
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecoded(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map { Array($0) }
    }
}

/// One `Range: bytes=…` header against a file of `size` bytes (RFC 9110 §14). Only a single range
/// is served; several ranges get the whole file, which the RFC allows.
enum ByteRange: Equatable {
    case whole
    case part(ClosedRange<Int64>)
    case unsatisfiable

    static func parse(_ header: String, size: Int64) -> ByteRange {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = text.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // bytes=-N: the last N bytes.
            guard let count = Int64(last), count >= 0 else { return .whole }
            guard count > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - count)...(size - 1))
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .part(start...(size - 1)) }
        guard let end = Int64(last), end >= start else { return .whole }
        return .part(start...min(end, size - 1))
    }
}

struct FolderEntryDTO: Encodable {
    var name: String
    var path: String?
    var kind: String
    var size: Int64
    var modifiedAt: Date
    /// `false` when the name on disk is not UTF-8: `name` then shows it with replacement
    /// characters, and there is no `path` to act on.
    var nameIsValid: Bool

    init(_ entry: WorkspaceFolderEntry, in folder: WorkspacePath) {
        let text = String(validating: entry.name, as: UTF8.self)
        self.name = text ?? String(decoding: entry.name, as: UTF8.self)
        self.path = text.flatMap { try? folder.appending($0).description }
        self.kind = entry.kind.rawValue
        self.size = entry.size
        self.modifiedAt = entry.modifiedAt
        self.nameIsValid = text != nil
    }

    /// `path` is an explicit null for a name that is not UTF-8.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.path, forKey: .path)
        try container.encode(self.kind, forKey: .kind)
        try container.encode(self.size, forKey: .size)
        try container.encode(self.modifiedAt, forKey: .modifiedAt)
        try container.encode(self.nameIsValid, forKey: .nameIsValid)
    }

    enum CodingKeys: String, CodingKey {
        case name, path, kind, size, modifiedAt, nameIsValid
    }
}

struct FolderListingDTO: ResponseEncodable {
    var path: String
    var items: [FolderEntryDTO]
    var nextCursor: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.path, forKey: .path)
        try container.encode(self.items, forKey: .items)
        try container.encode(self.nextCursor, forKey: .nextCursor)
    }

    enum CodingKeys: String, CodingKey {
        case path, items, nextCursor
    }
}

struct FileDTO: ResponseEncodable {
    var path: String
    var size: Int64
    var modifiedAt: Date

    init(_ info: WorkspaceFileInfo) {
        self.path = info.path.description
        self.size = info.size
        self.modifiedAt = info.modifiedAt
    }
}

struct TrashedDTO: ResponseEncodable {
    var path: String
    var trashedTo: String
}

struct PathDTO: ResponseEncodable {
    var path: String
}

extension URI {
    /// The query as a form encodes it (`application/x-www-form-urlencoded`): `+` is a space, as
    /// browsers' `URLSearchParams`, HTML forms and HTTP libraries send it, then `%XX` escapes.
    /// Hummingbird's `queryParameters` undoes only the escapes, so `a+b.txt` would stay `a+b.txt`.
    /// The first of a repeated name wins; a value whose escapes are not UTF-8 is left out.
    var formParameters: [String: String] {
        var parameters: [String: String] = [:]
        for pair in (self.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { continue }
            if parameters[name] == nil { parameters[name] = value }
        }
        return parameters
    }
}
