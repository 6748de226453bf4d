import Foundation
import HoldfastCore
import Testing

/// The escalation list the operator keeps: who is called, in which order, and how.
@Suite("Troubleshooters")
struct TroubleshooterTests {
    func code(_ list: [Troubleshooter]) -> String? {
        #expect(throws: CoreError.self) { try Troubleshooter.validatedEscalationList(list) }?.code
    }

    @Test func aValidListIsNormalisedAndKeepsItsOrder() throws {
        let list = try Troubleshooter.validatedEscalationList([
            Troubleshooter(name: "  Zoe  ", role: " Head of IT ", email: " Zoe@Acme.TEST ", phone: nil),
            Troubleshooter(name: "Adam", role: "On call", email: "", phone: "+44 20-7946 0000"),
        ])
        #expect(list.map(\.name) == ["Zoe", "Adam"])
        #expect(list[0].role == "Head of IT")
        #expect(list[0].email == "zoe@acme.test")
        #expect(list[0].phone == nil)
        #expect(list[1].email == nil)
        #expect(list[1].phone == "+442079460000")
    }

    @Test func theListHoldsOneToTenPeople() throws {
        let person = { (index: Int) in Troubleshooter(name: "P\(index)", role: "r", email: "p\(index)@acme.test") }
        #expect(self.code([]) == "invalid_troubleshooters")
        #expect(self.code((1...11).map(person)) == "invalid_troubleshooters")
        #expect(try Troubleshooter.validatedEscalationList((1...10).map(person)).count == 10)
    }

    @Test func nameAndRoleAreRequiredSingleLinesOfAtMost200Characters() {
        let long = String(repeating: "x", count: 201)
        #expect(self.code([Troubleshooter(name: "  ", role: "r", email: "a@b.test")]) == "invalid_troubleshooter_name")
        #expect(self.code([Troubleshooter(name: long, role: "r", email: "a@b.test")]) == "invalid_troubleshooter_name")
        #expect(self.code([Troubleshooter(name: "Ann\nLee", role: "r", email: "a@b.test")]) == "invalid_troubleshooter_name")
        #expect(self.code([Troubleshooter(name: "Ann", role: "", email: "a@b.test")]) == "invalid_troubleshooter_role")
        #expect(self.code([Troubleshooter(name: "Ann", role: long, email: "a@b.test")]) == "invalid_troubleshooter_role")
        #expect(
            (try? Troubleshooter.validatedEscalationList([
                Troubleshooter(name: String(repeating: "x", count: 200), role: "r", email: "a@b.test")
            ])) != nil)
    }

    @Test func someoneWithNeitherEmailNorPhoneIsRefusedWithAMessageSayingWhatToDo() {
        for person in [Troubleshooter(name: "Ann", role: "r"), Troubleshooter(name: "Ann", role: "r", email: " ", phone: "")] {
            let error = #expect(throws: CoreError.self) {
                try Troubleshooter.validatedEscalationList([Troubleshooter(name: "Bo", role: "r", email: "bo@acme.test"), person])
            }
            #expect(error?.code == "troubleshooter_unreachable")
            #expect(error?.kind == .invalidInput)
            #expect(error?.message == "Troubleshooter 2 (Ann) has no e-mail or phone: add one so they can be reached.")
        }
    }

    @Test func emailIsCheckedAsAccountsCheckIt() {
        let error = #expect(throws: CoreError.self) {
            try Troubleshooter.validatedEscalationList([Troubleshooter(name: "Ann", role: "r", email: "ann.acme.test")])
        }
        #expect(error?.code == "invalid_email")
        #expect(error?.message.contains("Troubleshooter 1 (Ann)") == true)
        // The same rule as accounts: an address the account code accepts is accepted here too.
        #expect((try? Troubleshooter(name: "Ann", role: "r", email: "ann@acme.test").validated(position: 1)) != nil)
        #expect(throws: CoreError.self) { try User.normalised(email: "ann.acme.test") }
    }

    @Test(arguments: [
        ("+44 20 7946 0000", "+442079460000"), ("+1-555-555-0100", "+15555550100"), ("+1234567", "+1234567"),
        ("+123456789012345", "+123456789012345"),
    ])
    func internationalPhoneNumbersAreNormalised(_ text: String, _ normalised: String) throws {
        let person = try Troubleshooter(name: "Ann", role: "r", phone: text).validated(position: 1)
        #expect(person.phone == normalised)
    }

    @Test(arguments: [
        "442079460000", "+123456", "+1234567890123456", "+44 (20) 7946 0000", "+44a2079460000", "+", "++442079460000",
        "+44 20 7946 0000 x12",
    ])
    func otherPhoneNumbersAreRefused(_ text: String) {
        let error = #expect(throws: CoreError.self) { try Troubleshooter(name: "Ann", role: "r", phone: text).validated(position: 3) }
        #expect(error?.code == "invalid_phone")
        #expect(error?.message.contains("Troubleshooter 3 (Ann)") == true)
    }

    @Test func theSamePersonByEmailIsListedOnceButAPhoneMayBeShared() throws {
        let error = #expect(throws: CoreError.self) {
            try Troubleshooter.validatedEscalationList([
                Troubleshooter(name: "Ann", role: "r", email: "ann@acme.test"),
                Troubleshooter(name: "Bo", role: "r", phone: "+15555550100"),
                Troubleshooter(name: "Ann again", role: "r", email: "ANN@acme.test"),
            ])
        }
        #expect(error?.code == "duplicate_troubleshooter")
        #expect(error?.message.contains("1 and 3") == true)
        let shared = try Troubleshooter.validatedEscalationList([
            Troubleshooter(name: "Ann", role: "on call", email: "ann@acme.test", phone: "+15555550100"),
            Troubleshooter(name: "Bo", role: "on call", email: "bo@acme.test", phone: "+1 555 555 0100"),
        ])
        #expect(shared.count == 2)
    }
}
