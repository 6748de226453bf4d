import Foundation
import HoldfastCore
import Testing

/// A message as an MTA hands it over: the fixture written with `\n`, sent with CRLF line ends.
func crlf(_ text: String) -> [UInt8] {
    Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
}

func expectMailError(_ code: String, _ bytes: [UInt8], mentioning words: String? = nil) {
    #expect {
        _ = try MailParser.parse(bytes)
    } throws: { error in
        guard let error = error as? CoreError, error.kind == .invalidInput, error.code == code else { return false }
        return words.map { error.message.contains($0) } ?? true
    }
}

@Suite("Mail in: parsing real-world shaped messages")
struct MailParserTests {
    @Test("Gmail-style multipart/alternative: quoted-printable text/plain is preferred over the HTML")
    func gmailAlternative() throws {
        let mail = try MailParser.parse(
            crlf(
                """
                MIME-Version: 1.0
                Date: Mon, 30 Nov 2026 10:15:02 +0100
                Message-ID: <CAF=abc123@mail.gmail.com>
                Subject: Terminal froze during
                 a long build
                From: =?UTF-8?Q?Ren=C3=A9e_M=C3=BCller?= <renee@acme.example>
                To: support@holdfast.example
                Content-Type: multipart/alternative; boundary="000000000000a1b2c3"

                --000000000000a1b2c3
                Content-Type: text/plain; charset="UTF-8"
                Content-Transfer-Encoding: quoted-printable

                Hi, the terminal stopped responding at 10:02 =E2=80=94 the build was at 9=
                0%.
                Cost: 5 =3D five minutes.

                --000000000000a1b2c3
                Content-Type: text/html; charset="UTF-8"
                Content-Transfer-Encoding: quoted-printable

                <div dir=3D"ltr">Hi, the terminal stopped <b>responding</b></div>

                --000000000000a1b2c3--
                """))
        #expect(mail.from == MailAddress(address: "renee@acme.example", name: "Renée Müller"))
        #expect(mail.subject == "Terminal froze during a long build")
        #expect(mail.messageID == "CAF=abc123@mail.gmail.com")
        #expect(mail.date == (try isoInstant("2026-11-30T09:15:02Z")))
        #expect(mail.text == "Hi, the terminal stopped responding at 10:02 — the build was at 90%.\nCost: 5 = five minutes.")
        #expect(mail.attachments.isEmpty)
    }

    @Test("A base64 body in ISO-8859-1 becomes the right text")
    func base64Latin1() throws {
        let mail = try MailParser.parse(
            crlf(
                """
                From: Jürgen <juergen@acme.example>
                Subject: Terminal
                Content-Type: text/plain; charset=ISO-8859-1
                Content-Transfer-Encoding: base64

                R3L832UgYXVzIEv2bG4sIGRhcyBUZXJtaW5hbCBo5G5ndC4NCkRhbmtlIQ0K
                """))
        #expect(mail.text == "Grüße aus Köln, das Terminal hängt.\nDanke!")
        #expect(mail.from.name == "Jürgen")
    }

    @Test("An encoded-word subject carrying [#42] threads onto ticket 42; prefixes are stripped for a new ticket")
    func encodedSubjectWithTag() throws {
        let mail = try MailParser.parse(
            crlf(
                """
                From: "Doe, Jane" <jane@acme.example>
                Subject: AW: Re: =?utf-8?B?w4RyZ2VyIG1pdCBUZXJtaW5hbA==?= [#42]
                In-Reply-To: <0b5c8a2e@holdfast.example>
                Content-Type: text/plain; charset=utf-8

                Still broken.

                On Mon, 30 Nov 2026 at 12:00, Holdfast Support <support@holdfast.example>
                wrote:
                > We restarted the host.
                > Does it work now?
                """))
        #expect(mail.subject == "AW: Re: Ärger mit Terminal [#42]")
        #expect(mail.threadTag == MailSubject.Tag(number: 42, token: nil))
        #expect(mail.inReplyTo == "0b5c8a2e@holdfast.example")
        #expect(mail.from == MailAddress(address: "jane@acme.example", name: "Doe, Jane"))
        #expect(MailSubject.cleaned(mail.subject) == "Ärger mit Terminal")
        #expect(MailReplyText.strippingQuote(mail.text) == "Still broken.")
    }

    @Test("Q-encoded windows-1252 words, split over two words, decode and join")
    func windows1252Words() throws {
        #expect(
            EncodedWords.decode("=?windows-1252?Q?=93Quoted=94_text?= =?windows-1252?Q?_costs_=80?=")
                == "\u{201C}Quoted\u{201D} text costs €")
        #expect(EncodedWords.decode("=?iso-8859-1?q?caf=E9?= au lait") == "café au lait")
        #expect(EncodedWords.decode("not =?encoded") == "not =?encoded")
    }

    @Test("An HTML-only mail becomes plain text: tags stripped, entities decoded, scripts dropped")
    func htmlOnly() throws {
        let mail = try MailParser.parse(
            crlf(
                """
                From: ops@acme.example
                Subject: Outage
                Content-Type: text/html; charset=windows-1252

                <html><head><title>x</title><style>p{color:red}</style></head><body>
                <p>All sessions dropped at 09:00&nbsp;UTC.</p><p>Error: &lt;timeout&gt; &amp; retry &#8211; &#x263A;</p>
                <script>alert('x')</script><!-- a comment > with a bracket --><div>Thanks<br>Ops</div>
                </body></html>
                """))
        #expect(mail.text == "All sessions dropped at 09:00 UTC.\n\nError: <timeout> & retry – ☺\n\nThanks\nOps")
        #expect(mail.from == MailAddress(address: "ops@acme.example"))
    }

    @Test("Nested multipart/mixed with an alternative body and a PDF attachment: the attachment is listed, not kept")
    func nestedMixedWithAttachment() throws {
        let pdf = Data(repeating: 0x25, count: 1000).base64EncodedString(options: .lineLength76Characters)
        let mail = try MailParser.parse(
            crlf(
                """
                From: Bob <bob@acme.example>
                Subject: Logs attached
                Content-Type: multipart/mixed; boundary=outer

                This is a multi-part message in MIME format.
                --outer
                Content-Type: multipart/alternative; boundary="inner"

                --inner
                Content-Type: text/plain; charset=us-ascii

                See the log.
                --inner
                Content-Type: text/html

                <p>See the log.</p>
                --inner--

                --outer
                Content-Type: application/pdf; name="report.pdf"
                Content-Disposition: attachment; filename*=utf-8''r%C3%A9port.pdf
                Content-Transfer-Encoding: base64

                \(pdf)
                --outer
                Content-Type: text/plain; name=notes.txt
                Content-Disposition: attachment

                not the body
                --outer--
                epilogue
                """))
        #expect(mail.text == "See the log.")
        #expect(
            mail.attachments == [
                MailAttachment(filename: "réport.pdf", contentType: "application/pdf", size: 1000),
                MailAttachment(filename: "notes.txt", contentType: "text/plain", size: 12),
            ])
    }

    @Test("Unix line ends (LF only) read the same")
    func lfOnly() throws {
        let mail = try MailParser.parse(Array("From: a@b.example\nSubject: Hi\n\nBody line\n".utf8))
        #expect(mail.text == "Body line")
        #expect(mail.subject == "Hi")
    }

    @Test("A mail without a From is refused, saying there is nobody to file it for")
    func noFrom() {
        expectMailError("mail_no_from", crlf("Subject: hello\nTo: support@holdfast.example\n\nHelp"), mentioning: "From")
        expectMailError("mail_no_from", crlf("From: undisclosed-recipients:;\nSubject: x\n\nHelp"))
    }

    @Test("Broken MIME says what is broken: no boundary, a boundary that never appears, a missing closing line")
    func brokenMIME() {
        expectMailError(
            "mail_malformed", crlf("From: a@b.example\nContent-Type: multipart/mixed\n\n--x\n\nhi\n--x--"), mentioning: "no boundary")
        expectMailError(
            "mail_malformed", crlf("From: a@b.example\nContent-Type: multipart/mixed; boundary=abc\n\n--xyz\n\nhi\n--xyz--"),
            mentioning: "--abc")
        expectMailError(
            "mail_malformed",
            crlf("From: a@b.example\nContent-Type: multipart/mixed; boundary=abc\n\n--abc\nContent-Type: text/plain\n\nhi there"),
            mentioning: "--abc--")
    }

    @Test("A mail with no text is refused")
    func emptyBody() {
        expectMailError("mail_empty_body", crlf("From: a@b.example\nSubject: x\n\n  \n"))
        expectMailError(
            "mail_empty_body",
            crlf(
                "From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/png\nContent-Disposition: attachment\n\nxx\n--b--"
            ))
    }

    @Test("A 50 MB mail is refused as too large, before any parsing")
    func tooLarge() {
        var bytes = crlf("From: a@b.example\nSubject: big\n\n")
        bytes += [UInt8](repeating: 0x41, count: 50_000_000)
        expectMailError("mail_too_large", bytes, mentioning: "25 MiB")
        // Exactly at the limit is fine.
        var limit = crlf("From: a@b.example\n\n")
        limit += [UInt8](repeating: 0x41, count: MailParser.maximumSize - limit.count)
        #expect(throws: Never.self) { try MailParser.parse(limit) }
    }

    @Test("From headers in the shapes clients write them")
    func fromShapes() {
        #expect(MailParser.address("jane@acme.example (Jane Doe)") == MailAddress(address: "jane@acme.example", name: "Jane Doe"))
        #expect(MailParser.address("<jane@acme.example>") == MailAddress(address: "jane@acme.example"))
        #expect(
            MailParser.address("\"Jane \\\"JD\\\" Doe\" <jane@acme.example>")
                == MailAddress(address: "jane@acme.example", name: "Jane \"JD\" Doe"))
        #expect(MailParser.address("Jane Doe") == nil)
    }

    @Test("Thread tags: the first [#N] or [#N-token] counts; look-alikes do not")
    func threadTags() {
        #expect(MailSubject.tag(in: "Re: [#123] Terminal") == MailSubject.Tag(number: 123, token: nil))
        #expect(MailSubject.tag(in: "Re: [#123-k7q2m9x4ab3cd5ef] Terminal") == MailSubject.Tag(number: 123, token: "k7q2m9x4ab3cd5ef"))
        // Some clients shout; tokens are compared in lower case.
        #expect(MailSubject.tag(in: "RE: [#123-K7Q2M9X4AB3CD5EF]")?.token == "k7q2m9x4ab3cd5ef")
        #expect(MailSubject.tag(in: "[#x] [#7] and [#8]")?.number == 7)
        #expect(MailSubject.tag(in: "[#7-] [#8-a b] [#9-ok]") == MailSubject.Tag(number: 9, token: "ok"))
        #expect(MailSubject.tag(in: "Ticket #5 [#] [# 6] [#12345678901] [#-abc]") == nil)
        #expect(MailSubject.cleaned("RE: Fwd: Re[2]: [#9] Terminal   froze") == "Terminal froze")
        #expect(MailSubject.cleaned("Re: [#9-k7q2m9x4ab3cd5ef] Terminal froze") == "Terminal froze")
        #expect(MailSubject.cleaned("Reminder: invoices") == "Reminder: invoices")
    }

    @Test("Quote stripping keeps inline answers and drops only the trailing quote")
    func quoteStripping() {
        let inline = "> Which browser?\nFirefox 130.\n> Which host?\nhost-3\n\n> old\n> stuff"
        #expect(MailReplyText.strippingQuote(inline) == "> Which browser?\nFirefox 130.\n> Which host?\nhost-3")
        let outlook = "Works now, thanks.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nOld text"
        #expect(MailReplyText.strippingQuote(outlook) == "Works now, thanks.")
        #expect(MailReplyText.strippingQuote("> only a quote") == "> only a quote")
        #expect(MailReplyText.strippingQuote("Fine.\nOn Mon, 30 Nov 2026, Al wrote:\n> x") == "Fine.")
    }
}
