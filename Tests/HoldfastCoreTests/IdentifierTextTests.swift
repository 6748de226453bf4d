import Foundation
import HoldfastCore
import HoldfastTestSupport
import Testing

/// `UUIDText` replaces Foundation's parser and printer on the store's hot path. It accepts
/// exactly the canonical `8-4-4-4-12` hex form, with the UUID Foundation reads from it; it is
/// stricter than Foundation's `sscanf`, which also takes a sign or a space for a digit (and
/// reads `" 04eb159-…"` as `04EB1509-…`).
@Suite("Identifiers: the text form agrees with Foundation's UUID")
struct IdentifierTextTests {
    @Test("Random UUIDs print as Foundation's lower-cased string and read back, in any case")
    func roundTrip() {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<5_000 {
            let uuid = UUID()
            let text = UUIDText.lowercase(uuid)
            #expect(text == uuid.uuidString.lowercased())
            #expect(UUIDText.parse(text) == uuid)
            let mixed = String(
                text.map { character in Int.random(in: 0..<2, using: &random) == 0 ? Character(character.uppercased()) : character })
            #expect(UUIDText.parse(mixed) == uuid)
            #expect(Identifier<Int>(mixed)?.description == text)
        }
    }

    @Test("Mangled texts are refused unless still canonical; what is accepted is what Foundation reads")
    func mangled() {
        var random = SeededGenerator(seed: 11)
        let alphabet = Array("0123456789abcdefABCDEFgG-xz é{} \n")
        var refused = 0
        for _ in 0..<20_000 {
            var characters = Array(UUID().uuidString)
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                characters[Int.random(in: 0..<characters.count, using: &random)] =
                    alphabet[Int.random(in: 0..<alphabet.count, using: &random)]
            case 1: characters.remove(at: Int.random(in: 0..<characters.count, using: &random))
            case 2:
                characters.insert(
                    alphabet[Int.random(in: 0..<alphabet.count, using: &random)],
                    at: Int.random(in: 0..<characters.count + 1, using: &random))
            default:
                characters.swapAt(
                    Int.random(in: 0..<characters.count, using: &random), Int.random(in: 0..<characters.count, using: &random))
            }
            let text = String(characters)
            let ours = UUIDText.parse(text)
            #expect((ours != nil) == Self.isCanonical(text), "\(text)")
            if let ours {
                #expect(ours == UUID(uuidString: text), "\(text)")
            } else {
                refused += 1
            }
        }
        #expect(refused > 5_000)
        for text in ["", "not-a-uuid", "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", "6ba7b8109dad11d180b400c04fd430c8"] {
            #expect(UUIDText.parse(text) == nil)
            #expect(UUID(uuidString: text) == nil)
        }
    }

    static func isCanonical(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 36
            && bytes.indices.allSatisfy { index in
                [8, 13, 18, 23].contains(index)
                    ? bytes[index] == UInt8(ascii: "-") : Character(UnicodeScalar(bytes[index])).isHexDigit
            }
    }
}
