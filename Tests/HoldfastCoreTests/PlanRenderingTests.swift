import Foundation
import HoldfastCore
import Testing

/// The plans as documents: Markdown for the terminal and the API, HTML for the browser and its "Print to PDF".
@Suite("Plan rendering")
struct PlanRenderingTests {
    static let script = "<script>alert(1)</script>"

    func plan(_ kind: ContinuityPlan.Kind = .disasterRecovery, _ change: (inout PlanInputs) -> Void = { _ in }) throws -> ContinuityPlan {
        var inputs = try PlanFixtures.inputs(drill: PlanFixtures.drill())
        change(&inputs)
        return ContinuityPlanGenerator.generate(kind: kind, inputs: inputs, version: 3, now: PlanFixtures.now)
    }

    @Test(arguments: ContinuityPlan.Kind.allCases)
    func aTroubleshooterCalledScriptIsShownAsTextInHTML(kind: ContinuityPlan.Kind) throws {
        let plan = try self.plan(kind) { $0.troubleshooters[1].name = Self.script }
        let html = PlanHTML.render(plan, tenantName: Self.script)
        #expect(!html.lowercased().contains("<script"))
        #expect(html.contains("<li>&lt;script&gt;alert(1)&lt;/script&gt;, Head of IT — e-mail <code>bo@acme.test</code></li>"))
        #expect(html.contains("<h1>\(kind.title): &lt;script&gt;alert(1)&lt;/script&gt;</h1>"))
        let markdown = PlanMarkdown.render(plan, tenantName: Self.script)
        #expect(!markdown.contains(Self.script))
        #expect(markdown.contains("2. \\<script\\>alert(1)\\</script\\>, Head of IT"))
    }

    @Test func markupInDataIsShownLiterallyInHTML() throws {
        let plan = try self.plan { $0.troubleshooters[0].name = "`rm -rf /` *boss* & <b>co</b>" }
        let html = PlanHTML.render(plan, tenantName: "Acme & \"Co\"")
        #expect(html.contains("<li>`rm -rf /` *boss* &amp; &lt;b&gt;co&lt;/b&gt;, On-call operator"))
        #expect(!html.contains("<code>rm -rf /</code>"))
        #expect(html.contains("<title>Disaster Recovery Plan: Acme &amp; &quot;Co&quot; (version 3)</title>"))
    }

    @Test func escapedTextAndCodeSpansRoundTripThroughTheHTMLRenderer() throws {
        let samples = ["a`b", "``x``", "` lead", "trail `", "\\*not emphasis\\*", "<&>\"'", "-start", "+start", "# heading", "| table |"]
        for sample in samples {
            let body = "Text: \(PlanText.escaped(sample))\n\n- Code: \(PlanText.code(sample))"
            let plan = ContinuityPlan(
                kind: .disasterRecovery, tenant: "acme", version: 1, generatedAt: PlanFixtures.now, rpoSeconds: 300, rtoSeconds: 3_600,
                troubleshooters: [], sections: [PlanSection(title: "1 Test", body: body)], lastDrill: nil)
            let html = PlanHTML.render(plan, tenantName: "Acme")
            let shown = Self.htmlEscaped(sample)
            #expect(html.contains("<p>Text: \(shown)</p>"), "\(sample)")
            #expect(html.contains("<li>Code: <code>\(shown)</code></li>"), "\(sample)")
        }
    }

    @Test func htmlIsACompleteDocumentWithContentsAndAPrintStyleSheet() throws {
        let plan = try self.plan()
        let html = PlanHTML.render(plan, tenantName: "Acme Research")
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"))
        #expect(html.hasSuffix("</body>\n</html>\n"))
        #expect(!html.contains("<script"))
        for section in plan.sections {
            #expect(html.contains("<a href=\"#\(section.anchor)\">\(Self.htmlEscaped(section.title))</a>"), "\(section.title)")
            #expect(html.contains("<section id=\"\(section.anchor)\" class=\"level-\(section.level)\">"), "\(section.title)")
        }
        #expect(html.components(separatedBy: "<section ").count == html.components(separatedBy: "</section>").count)
        let print = try #require(html.range(of: "@media print {")).upperBound
        let rules = String(html[print...])
        #expect(rules.contains("nav { display: none; }"))
        #expect(rules.contains("main > section { break-before: page; page-break-before: always; }"))
        #expect(rules.contains("color: #000; background: #fff;"))
        #expect(rules.contains("a[href]::after { content: \" (\" attr(href) \")\";"))
        #expect(html.contains("<dt>RTO</dt><dd>12m34s (measured by the latest drill)</dd>"))
        #expect(html.contains("<ol>\n<li>Ann Lee, On-call operator"))
    }

    @Test func addressesBecomeLinksOnlyWhenThePublicAddressIsKnown() throws {
        let linked = PlanHTML.render(
            try self.plan(.businessContinuity) { $0.deployment.publicURL = "https://holdfast.example.com/" }, tenantName: "Acme")
        #expect(linked.contains("<a href=\"https://holdfast.example.com/status\">https://holdfast.example.com/status</a>"))
        let plain = PlanHTML.render(try self.plan(.businessContinuity), tenantName: "Acme")
        #expect(!plain.contains("<a href=\"http"))
        #expect(plain.contains("<code>/status</code>"))
    }

    @Test func markdownHasTheTitleFactsContentsAndSectionsInOrder() throws {
        let plan = try self.plan(.businessContinuity)
        let markdown = PlanMarkdown.render(plan, tenantName: "Acme & Co")
        #expect(
            markdown.hasPrefix(
                "# Business Continuity Plan: Acme \\& Co\n\n- Tenant: acme\n- Version: 3\n- Generated: 2026-11-18T11:06:40Z\n"))
        #expect(markdown.contains("- RPO: 5m\n"))
        #expect(markdown.contains("## Contents\n\n- 1 Introduction\n  - 1.1 Purpose\n"))
        var position = markdown.startIndex
        for section in plan.sections {
            let heading = "\n\(section.level == 1 ? "##" : "###") \(section.title)\n\n\(section.body)\n"
            let found = try #require(markdown.range(of: heading, range: position..<markdown.endIndex), "\(section.title)")
            position = found.upperBound
        }
    }

    @Test(arguments: ContinuityPlan.Kind.allCases)
    func renderingIsDeterministic(kind: ContinuityPlan.Kind) throws {
        let first = try self.plan(kind)
        let second = try self.plan(kind)
        #expect(PlanHTML.render(first, tenantName: "Acme") == PlanHTML.render(second, tenantName: "Acme"))
        #expect(PlanMarkdown.render(first, tenantName: "Acme") == PlanMarkdown.render(second, tenantName: "Acme"))
    }

    static func htmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&apos;")
    }
}
