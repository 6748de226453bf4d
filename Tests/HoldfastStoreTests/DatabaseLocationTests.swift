import HoldfastStore
import Testing

/// What of a database location may be printed, and whether it carries a secret.
@Suite("Database location")
struct DatabaseLocationTests {
    @Test func aPasswordIsMaskedWhenPrintedAndNoticed() throws {
        let secret = try DatabaseLocation(parsing: "postgres://holdfast:s3cr@t@db.example:5432/holdfast")
        #expect(secret.hasPassword)
        #expect(secret.description == "postgres://holdfast:***@db.example:5432/holdfast")
        for plain in ["postgres://holdfast@db.example:5432/holdfast", "postgresql://db.example/holdfast", "sqlite:/var/lib/h.sqlite"] {
            let location = try DatabaseLocation(parsing: plain)
            #expect(!location.hasPassword, "\(plain)")
            #expect(location.description == plain)
        }
    }
}
