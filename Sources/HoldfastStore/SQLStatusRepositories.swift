import Foundation
import HoldfastCore
import SQLKit

// The status page's and the continuity plans' records are read and written whole, so each row
// keeps the record as JSON beside the few columns queries filter and sort on.

public struct SQLIncidentRepository: IncidentRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func save(_ incident: Incident, outbox: [OutboxMessage]) async throws {
        let body = try jsonText(incident)
        try await self.database.withTransaction { sql in
            try await sql.insert(into: "incidents")
                .columns("id", "created_at", "resolved_at", "body")
                .values(
                    SQLBind(incident.id.description), SQLBind(incident.createdAt.millisecondsSince1970),
                    SQLBind(incident.resolvedAt?.millisecondsSince1970), SQLBind(body)
                )
                .onConflict(with: ["id"]) { $0.set(excludedValueOf: "resolved_at").set(excludedValueOf: "body") }
                .run()
            try await SQLOutboxRepository.insert(outbox, sql)
        }
    }

    public func find(id: Incident.ID) async throws -> Incident? {
        try await self.database.withConnection { sql in
            try await sql.select().column("body").from("incidents").where("id", .equal, id.description).first()
                .map { try decodeJSON(Incident.self, from: try $0.decode(column: "body", as: String.self)) }
        }
    }

    public func list(resolvedSince since: Date) async throws -> [Incident] {
        try await self.database.withConnection { sql in
            try await sql.select().column("body").from("incidents")
                .where {
                    $0.where("resolved_at", .is, SQLLiteral.null).orWhere("resolved_at", .greaterThanOrEqual, since.millisecondsSince1970)
                }
                .orderBy("created_at", .descending).orderBy("id", .descending)
                .all().map { try decodeJSON(Incident.self, from: try $0.decode(column: "body", as: String.self)) }
        }
    }
}

public struct SQLMaintenanceRepository: MaintenanceRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func save(_ window: MaintenanceWindow, outbox: [OutboxMessage]) async throws {
        let body = try jsonText(window)
        try await self.database.withTransaction { sql in
            try await sql.insert(into: "maintenance_windows")
                .columns("id", "starts_at", "ends_at", "state", "body")
                .values(
                    SQLBind(window.id.description), SQLBind(window.startsAt.millisecondsSince1970),
                    SQLBind(window.endsAt.millisecondsSince1970), SQLBind(window.state.rawValue), SQLBind(body)
                )
                .onConflict(with: ["id"]) {
                    $0.set(excludedValueOf: "starts_at").set(excludedValueOf: "ends_at").set(excludedValueOf: "state")
                        .set(excludedValueOf: "body")
                }
                .run()
            try await SQLOutboxRepository.insert(outbox, sql)
        }
    }

    public func find(id: MaintenanceWindow.ID) async throws -> MaintenanceWindow? {
        try await self.database.withConnection { sql in
            try await sql.select().column("body").from("maintenance_windows").where("id", .equal, id.description).first()
                .map { try decodeJSON(MaintenanceWindow.self, from: try $0.decode(column: "body", as: String.self)) }
        }
    }

    public func list(endingSince since: Date) async throws -> [MaintenanceWindow] {
        try await self.database.withConnection { sql in
            try await sql.select().column("body").from("maintenance_windows")
                .where("ends_at", .greaterThanOrEqual, since.millisecondsSince1970)
                .orderBy("starts_at").orderBy("id")
                .all().map { try decodeJSON(MaintenanceWindow.self, from: try $0.decode(column: "body", as: String.self)) }
        }
    }
}

public struct SQLUsageRepository: UsageRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// The whole service's rows use the empty scope.
    static func scope(_ tenantID: Tenant.ID?) -> String { tenantID?.description ?? "" }

    public func record(_ counts: [UsageCount], at minute: Date) async throws {
        guard !counts.isEmpty else { return }
        let hour = UsageHour.start(of: minute).millisecondsSince1970
        try await self.database.withTransaction { sql in
            var insert = sql.insert(into: "usage_hours").columns("scope", "hour_start", "sum", "minutes")
            for count in counts {
                insert = insert.values(SQLBind(Self.scope(count.tenantID)), SQLBind(hour), SQLBind(count.activeSessions), SQLBind(1))
            }
            try await insert.onConflict(with: ["scope", "hour_start"]) {
                $0.set("sum", to: SQLBinaryExpression(SQLColumn("sum", table: "usage_hours"), .add, SQLExcludedColumn("sum")))
                    .set("minutes", to: SQLBinaryExpression(SQLColumn("minutes", table: "usage_hours"), .add, SQLExcludedColumn("minutes")))
            }
            .run()
        }
    }

    public func hours(tenantID: Tenant.ID?, since: Date) async throws -> [UsageHour] {
        try await self.database.withConnection { sql in
            try await sql.select().columns("hour_start", "sum", "minutes").from("usage_hours")
                .where("scope", .equal, Self.scope(tenantID)).where("hour_start", .greaterThanOrEqual, since.millisecondsSince1970)
                .orderBy("hour_start")
                .all().map { row in
                    UsageHour(
                        tenantID: tenantID, hourStart: Date(millisecondsSince1970: try row.decode(column: "hour_start", as: Int64.self)),
                        sum: try row.decode(column: "sum", as: Int.self), minutes: try row.decode(column: "minutes", as: Int.self))
                }
        }
    }

    public func deleteHours(before cutoff: Date) async throws -> Int {
        try await self.database.withTransaction { sql in
            let count =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("usage_hours")
                .where("hour_start", .lessThan, cutoff.millisecondsSince1970).first()?.decode(column: "n", as: Int.self) ?? 0
            try await sql.delete(from: "usage_hours").where("hour_start", .lessThan, cutoff.millisecondsSince1970).run()
            return count
        }
    }
}

public struct SQLContinuityRepository: ContinuityRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func troubleshooters(tenantID: Tenant.ID) async throws -> [Troubleshooter] {
        try await self.database.withConnection { sql in
            try await sql.select().column("body").from("tenant_troubleshooters").where("tenant_id", .equal, tenantID.description)
                .first().map { try decodeJSON([Troubleshooter].self, from: try $0.decode(column: "body", as: String.self)) } ?? []
        }
    }

    public func setTroubleshooters(_ list: [Troubleshooter], tenantID: Tenant.ID, at now: Date) async throws {
        let body = try jsonText(list)
        try await self.database.withTransaction { sql in
            try await sql.insert(into: "tenant_troubleshooters")
                .columns("tenant_id", "body", "updated_at")
                .values(SQLBind(tenantID.description), SQLBind(body), SQLBind(now.millisecondsSince1970))
                .onConflict(with: ["tenant_id"]) { $0.set(excludedValueOf: "body").set(excludedValueOf: "updated_at") }
                .run()
        }
    }

    public func latestPlan(tenantID: Tenant.ID, kind: ContinuityPlan.Kind) async throws -> StoredPlan? {
        try await self.plans(tenantID: tenantID, kind: kind, version: nil, limit: 1).first
    }

    public func plan(tenantID: Tenant.ID, kind: ContinuityPlan.Kind, version: Int) async throws -> StoredPlan? {
        try await self.plans(tenantID: tenantID, kind: kind, version: version, limit: 1).first
    }

    public func planVersions(tenantID: Tenant.ID, kind: ContinuityPlan.Kind) async throws -> [StoredPlan] {
        try await self.plans(tenantID: tenantID, kind: kind, version: nil, limit: nil)
    }

    private func plans(tenantID: Tenant.ID, kind: ContinuityPlan.Kind, version: Int?, limit: Int?) async throws -> [StoredPlan] {
        try await self.database.withConnection { sql in
            var query = sql.select().columns("body", "digest").from("continuity_plans")
                .where("tenant_id", .equal, tenantID.description).where("kind", .equal, kind.rawValue)
            if let version { query = query.where("version", .equal, version) }
            query = query.orderBy("version", .descending)
            if let limit { query = query.limit(limit) }
            return try await query.all().map { row in
                StoredPlan(
                    plan: try decodeJSON(ContinuityPlan.self, from: try row.decode(column: "body", as: String.self)),
                    digest: try row.decode(column: "digest", as: String.self))
            }
        }
    }

    public func savePlan(_ plan: ContinuityPlan, digest: String, tenantID: Tenant.ID) async throws {
        let body = try jsonText(plan)
        try await self.database.withTransaction { sql in
            let taken = try await sql.select().column("version").from("continuity_plans")
                .where("tenant_id", .equal, tenantID.description).where("kind", .equal, plan.kind.rawValue)
                .where("version", .equal, plan.version).first()
            guard taken == nil else {
                throw CoreError.conflict("plan_version_taken", "Version \(plan.version) of the \(plan.kind.title) exists already.")
            }
            try await sql.insert(into: "continuity_plans")
                .columns("tenant_id", "kind", "version", "digest", "generated_at", "body")
                .values(
                    SQLBind(tenantID.description), SQLBind(plan.kind.rawValue), SQLBind(plan.version), SQLBind(digest),
                    SQLBind(plan.generatedAt.millisecondsSince1970), SQLBind(body)
                )
                .run()
        }
    }

    public func record(_ drill: DrillResult, tenantID: Tenant.ID) async throws {
        let body = try jsonText(drill)
        try await self.database.withTransaction { sql in
            try await sql.insert(into: "drills")
                .columns("id", "tenant_id", "started_at", "body")
                .values(
                    SQLBind(drill.id.description), SQLBind(tenantID.description), SQLBind(drill.startedAt.millisecondsSince1970),
                    SQLBind(body)
                )
                .run()
        }
    }

    public func drills(tenantID: Tenant.ID, limit: Int) async throws -> [DrillResult] {
        try await self.database.withConnection { sql in
            try await sql.select().column("body").from("drills").where("tenant_id", .equal, tenantID.description)
                .orderBy("started_at", .descending).limit(max(limit, 0))
                .all().map { try decodeJSON(DrillResult.self, from: try $0.decode(column: "body", as: String.self)) }
        }
    }
}
