import Foundation
import HoldfastCore
import Testing

/// `UUIDText` replaces Foundation's parser and printer on the store's hot path. It accepts
/// exactly the canonical `8-4-4-4-12` hex form, with the UUID Foundation reads from it; it is
/// stricter than Foundation's `sscanf`, which also takes a sign or a space for a digit (and
/// reads `" 04eb159-…"` as `04EB1509-…`).
@Suite("Identifiers: the text form agrees with Foundation's UUID")
struct IdentifierTextTests {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(self.next() % UInt64(bound)) }
    }

    @Test("Random UUIDs print as Foundation's lower-cased string and read back, in any case")
    func roundTrip() {
        var random = Generator(state: 7)
        for _ in 0..<5_000 {
            let uuid = UUID()
            let text = UUIDText.lowercase(uuid)
            #expect(text == uuid.uuidString.lowercased())
            #expect(UUIDText.parse(text) == uuid)
            let mixed = String(
                text.map { character in random.below(2) == 0 ? Character(character.uppercased()) : character })
            #expect(UUIDText.parse(mixed) == uuid)
            #expect(Identifier<Int>(mixed)?.description == text)
        }
    }

    @Test("Mangled texts are refused unless still canonical; what is accepted is what Foundation reads")
    func mangled() {
        var random = Generator(state: 11)
        let alphabet = Array("0123456789abcdefABCDEFgG-xz é{} \n")
        var refused = 0
        for _ in 0..<20_000 {
            var characters = Array(UUID().uuidString)
            switch random.below(4) {
            case 0: characters[random.below(characters.count)] = alphabet[random.below(alphabet.count)]
            case 1: characters.remove(at: random.below(characters.count))
            case 2: characters.insert(alphabet[random.below(alphabet.count)], at: random.below(characters.count + 1))
            default: characters.swapAt(random.below(characters.count), random.below(characters.count))
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
