import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// A server on a fresh temporary data directory, with a clock the test moves.
struct TestServer: Sendable {
    let firstOperator: Accounts.FirstOperator
    let clock: ManualClock
    let dataDirectory: URL
    let host: FakeHost
    let backups: FakeBackupDriver
    let workspaceUsage: WorkspaceUsageStub

    /// Builds the real application (same composition root as `serve`) and runs `body`
    /// against it in-process.
    static func run(
        configuring configure: (inout HoldfastConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (TestServer, any TestClientProtocol) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-app-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = HoldfastConfiguration()
        configuration.dataDirectory = directory.path
        configuration.authentication.bcryptCost = 4  // real bcrypt, cheapest cost: tests sign in often
        configure(&configuration)
        let clock = ManualClock()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let host = FakeHost()
        let backups = FakeBackupDriver(now: { clock.now() })
        let usage = WorkspaceUsageStub()
        let server = try await buildServer(
            configuration, logger: logger, now: { clock.now() }, host: host, backupDriver: backups,
            workspaceUsage: { _, user in usage.usage(of: user) })
        let test = TestServer(
            firstOperator: try #require(server.firstOperator), clock: clock, dataDirectory: directory, host: host, backups: backups,
            workspaceUsage: usage)
        try await server.application.test(.router) { client in
            try await body(test, client)
        }
    }
}

/// What the workspaces' quota volumes report, set by the test: a real volume is mounted only by
/// a session start as root. A user not set has no volume mounted (usage unknown).
final class WorkspaceUsageStub: Sendable {
    private let usage = Mutex<[User.ID: (usedBytes: Int, sizeBytes: Int)]>([:])

    func set(usedBytes: Int, sizeBytes: Int, of user: User.ID) {
        self.usage.withLock { $0[user] = (usedBytes, sizeBytes) }
    }

    func usage(of user: User.ID) -> (usedBytes: Int, sizeBytes: Int)? {
        self.usage.withLock { $0[user] }
    }
}

/// Decoded JSON with a forgiving, test-friendly accessor.
struct JSON {
    let value: Any?

    init(_ buffer: ByteBuffer) {
        self.value = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed])
    }

    private init(value: Any?) {
        self.value = value
    }

    subscript(_ key: String) -> JSON { JSON(value: (self.value as? [String: Any])?[key]) }
    subscript(_ index: Int) -> JSON {
        guard let array = self.value as? [Any], array.indices.contains(index) else { return JSON(value: nil) }
        return JSON(value: array[index])
    }

    var string: String? { self.value as? String }
    var array: [JSON] { (self.value as? [Any])?.map { JSON(value: $0) } ?? [] }
}

extension TestClientProtocol {
    /// Sends JSON (a dictionary or raw text) with an optional bearer token.
    @discardableResult
    func send(
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String? = nil,
        json: [String: Any]? = nil,
        raw: String? = nil,
        contentType: String = "application/json",
        headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if let token {
            headers[.authorization] = "Bearer \(token)"
        }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        } else if let raw {
            body = ByteBuffer(string: raw)
        }
        if body != nil {
            headers[.contentType] = contentType
        }
        return try await self.execute(uri: uri, method: method, headers: headers, body: body)
    }

    /// `DELETE /sessions/{id}`, which answers before the close is done (`202`, `closing`), then
    /// the session once the store has it closed (its timeline ends with `closed`; the fake host
    /// and backups take milliseconds).
    func closeSession(_ id: String, token: String) async throws -> JSON {
        let started = try await self.send(.delete, "/api/v1/sessions/\(id)", token: token)
        #expect(started.status == .accepted || started.status == .ok, "\(String(buffer: started.body))")
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let events = try await self.send(.get, "/api/v1/sessions/\(id)/events", token: token)
            if JSON(events.body).array.last?["type"].string == "closed" { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        return JSON(try await self.send(.get, "/api/v1/sessions/\(id)", token: token).body)
    }

    /// Signs in and returns the bearer token, failing the test when sign-in fails.
    func signIn(_ email: String, _ password: String) async throws -> String {
        let response = try await self.send(.post, "/api/v1/auth/login", json: ["email": email, "password": password])
        #expect(response.status == .ok, "sign-in of \(email) failed: \(String(buffer: response.body))")
        return try #require(JSON(response.body)["token"].string)
    }
}

/// Checks the error shape every failure must have, and returns its code.
@discardableResult
func expectError(
    _ response: TestResponse, _ status: HTTPResponse.Status, code: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
) -> String? {
    #expect(response.status == status, "body: \(String(buffer: response.body))", sourceLocation: sourceLocation)
    let error = JSON(response.body)["error"]
    #expect(
        error["message"].string?.isEmpty == false, "no error message in \(String(buffer: response.body))", sourceLocation: sourceLocation)
    if let code {
        #expect(error["code"].string == code, sourceLocation: sourceLocation)
    }
    return error["code"].string
}
