import Foundation
import HoldfastCore
import Hummingbird

/// `/suggestions…`: the suggestion board — submit, vote once, and for the team: status and merges.
struct SuggestionRoutes {
    let support: any SupportService
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("suggestions", use: self.suggest)
        group.get("suggestions", use: self.list)
        group.post("suggestions/:id/votes", use: self.vote)
        group.patch("suggestions/:id", use: self.changeStatus)
        group.post("suggestions/:id/merge", use: self.merge)
    }

    struct SuggestRequest: Decodable {
        var title: String
        var body: String?
    }

    @Sendable func suggest(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<SuggestionDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: SuggestRequest.self, context: context)
        let suggestion = try await self.support.suggest(title: body.title, body: body.body ?? "", by: user)
        return EditedResponse(status: .created, response: SuggestionDTO(suggestion))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListDTO<SuggestionDTO> {
        let user = try context.requireUser()
        let (limit, offset) = try request.page()
        return ListDTO(items: try await self.support.suggestions(for: user, limit: limit, offset: offset).map(SuggestionDTO.init))
    }

    /// 201 when the vote counted, 200 when the caller had voted already (nothing changes).
    @Sendable func vote(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<SuggestionDTO> {
        let user = try context.requireUser()
        let (suggestion, counted) = try await self.support.vote(for: try Self.id(context), by: user)
        return EditedResponse(status: counted ? .created : .ok, response: SuggestionDTO(suggestion))
    }

    struct StatusRequest: Decodable {
        var status: String
    }

    @Sendable func changeStatus(_ request: Request, context: AppRequestContext) async throws -> SuggestionDTO {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: StatusRequest.self, context: context)
        let status = try SuggestionStatus(validating: body.status)
        let suggestion = try await self.support.changeStatus(of: try Self.id(context), to: status, by: user)
        await self.audit.record(
            .suggestionStatusChanged, by: user, tenant: suggestion.tenantID, target: "suggestion \"\(suggestion.title)\"",
            detail: "status: \(status.rawValue)", context: context)
        return SuggestionDTO(suggestion)
    }

    struct MergeRequest: Decodable {
        var into: String
    }

    @Sendable func merge(_ request: Request, context: AppRequestContext) async throws -> SuggestionDTO {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: MergeRequest.self, context: context)
        guard let original = Suggestion.ID(body.into) else {
            throw CoreError.invalidInput("invalid_suggestion", "'\(body.into.prefix(80))' is not a suggestion id.")
        }
        let duplicate = try Self.id(context)
        let merged = try await self.support.merge(duplicate, into: original, by: user)
        await self.audit.record(
            .suggestionsMerged, by: user, tenant: merged.tenantID, target: "suggestion \"\(merged.title)\"",
            detail: "merged \(duplicate) into it", context: context)
        return SuggestionDTO(merged)
    }

    static func id(_ context: AppRequestContext) throws -> Suggestion.ID {
        try context.identifier(Suggestion.self, noun: "suggestion")
    }
}

struct SuggestionDTO: ResponseEncodable {
    var id: String
    var title: String
    var body: String
    var status: String
    var votes: Int
    var mergedInto: String?
    var createdAt: Date

    init(_ suggestion: Suggestion) {
        self.id = suggestion.id.description
        self.title = suggestion.title
        self.body = suggestion.body
        self.status = suggestion.status.rawValue
        self.votes = suggestion.votes
        self.mergedInto = suggestion.mergedInto?.description
        self.createdAt = suggestion.createdAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.title, forKey: .title)
        try container.encode(self.body, forKey: .body)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.votes, forKey: .votes)
        try container.encode(self.mergedInto, forKey: .mergedInto)
        try container.encode(self.createdAt, forKey: .createdAt)
    }

    enum CodingKeys: String, CodingKey {
        case id, title, body, status, votes, mergedInto, createdAt
    }
}
