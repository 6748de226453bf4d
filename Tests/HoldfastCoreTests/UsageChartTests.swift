import Foundation
import FoundationXML
import HoldfastCore
import Testing

/// The elements of an XML document, in order, with their attributes and the text directly inside them;
/// parsing fails for markup that is not well-formed.
final class ElementCollector: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
        var depth: Int
    }

    private(set) var elements: [Element] = []
    private var open: [Int] = []

    static func parse(_ xml: String) -> (wellFormed: Bool, elements: [Element]) {
        let collector = ElementCollector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = collector
        let wellFormed = parser.parse()
        return (wellFormed, collector.elements)
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        self.open.append(self.elements.count)
        self.elements.append(Element(name: elementName, attributes: attributes, depth: self.open.count - 1))
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        self.open.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let index = self.open.last { self.elements[index].text += string }
    }
}

@Suite("Usage chart: a self-contained, accessible SVG of the week")
struct UsageChartTests {
    static let london = zone("Europe/London")

    /// Sunday 03:00–05:00 is free, Monday 09:00 the peak at 12, Tuesday 05:00 never sampled, the rest 3.
    static let usage = try! histogram { hour in
        switch hour {
        case hourOfWeek(.sun, 3), hourOfWeek(.sun, 4): 0
        case hourOfWeek(.mon, 9): 12
        case hourOfWeek(.mon, 10): 6
        case hourOfWeek(.tue, 5): nil
        default: 3
        }
    }

    static func recommendation(hours: Int = 2, now: String = "2026-06-01T10:00:00+01:00") throws -> QuietWindowPlanner.Recommendation {
        try QuietWindowPlanner.recommend(
            duration: TimeInterval(hours * 3600), histogram: Self.usage, timeZone: Self.london, holidays: [], now: isoInstant(now))
    }

    @Test("The chart is well-formed XML with an accessible root, 168 bars, day labels and the axis maximum")
    func structure() throws {
        let svg = UsageChart.svg(histogram: Self.usage, recommendation: try Self.recommendation(), timeZone: Self.london)
        let (wellFormed, elements) = ElementCollector.parse(svg)
        #expect(wellFormed)
        let root = try #require(elements.first)
        #expect(root.name == "svg")
        #expect(root.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(root.attributes["role"] == "img")
        #expect(root.attributes["aria-label"]?.contains("Europe/London") == true)
        #expect(root.attributes["aria-label"]?.contains("Recommended window: 2026-06-07 03:00 to 05:00") == true)
        #expect(elements.dropFirst().first?.name == "title")
        #expect(!elements.contains { $0.name == "script" || $0.name == "foreignObject" || $0.name == "image" })
        #expect(!elements.contains { $0.attributes.keys.contains { $0.hasPrefix("on") || $0 == "href" } })

        let bars = elements.filter { $0.attributes["class"]?.hasPrefix("bar") == true && $0.name == "rect" }
        #expect(bars.count == 168)
        #expect(bars.filter { $0.attributes["class"] == "bar unknown" }.count == 1)
        #expect(elements.filter { $0.attributes["class"] == "day" }.map(\.text) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
        #expect(elements.first { $0.attributes["class"] == "axis-max" }?.text == "12")
    }

    @Test("Bar heights are in proportion to the mean; an unknown hour is drawn at the assumed mean")
    func barHeights() throws {
        let svg = UsageChart.svg(histogram: Self.usage, timeZone: Self.london)
        let elements = ElementCollector.parse(svg).elements
        let barIndices = elements.indices.filter {
            elements[$0].name == "rect" && elements[$0].attributes["class"]?.hasPrefix("bar") == true
        }
        let bars = barIndices.map { elements[$0] }
        // Each bar's tooltip is the title inside it.
        let tooltips = barIndices.map { elements[$0 + 1].name == "title" ? elements[$0 + 1].text : "" }
        let heights = bars.map { Double($0.attributes["height"]!)! }
        let plot = Double(UsageChart.Layout.plotHeight)
        #expect(heights[hourOfWeek(.mon, 9)] == plot)
        #expect(heights[hourOfWeek(.mon, 10)] == plot / 2)
        #expect(heights[hourOfWeek(.sun, 3)] == 0)
        let assumed = try #require(Self.usage.meanOfKnownBuckets)
        #expect(abs(heights[hourOfWeek(.tue, 5)] - assumed / 12 * plot) < 0.01)
        // Bars stand on the axis.
        for bar in bars {
            let bottom = Double(bar.attributes["y"]!)! + Double(bar.attributes["height"]!)!
            #expect(abs(bottom - Double(UsageChart.Layout.plotBottom)) < 0.011)
        }
        #expect(tooltips[hourOfWeek(.mon, 9)] == "Mon 09:00–10:00: 12 active sessions on average (60 samples)")
        #expect(tooltips[hourOfWeek(.tue, 5)].hasPrefix("Tue 05:00–06:00: not recorded yet; assumed 3"))
        #expect(tooltips[hourOfWeek(.sun, 23)].hasPrefix("Sun 23:00–24:00: 3 active sessions"))
    }

    /// The x ranges of the window bands, and of the bars they should cover.
    static func bands(_ svg: String) -> [Range<Int>] {
        ElementCollector.parse(svg).elements.filter { $0.attributes["class"] == "window-band" }.map { band in
            let x = Int(band.attributes["x"]!)!
            return x..<x + Int(band.attributes["width"]!)!
        }
    }

    static func span(ofBars hours: ClosedRange<Int>) -> Range<Int> {
        let left = UsageChart.Layout.plotLeft
        let pitch = UsageChart.Layout.barPitch
        return left + hours.lowerBound * pitch..<left + (hours.upperBound + 1) * pitch
    }

    @Test("The recommended window is one band over exactly the bars of Sunday 03:00 and 04:00, with a tooltip")
    func bandOverTheRightBars() throws {
        let svg = UsageChart.svg(histogram: Self.usage, recommendation: try Self.recommendation(), timeZone: Self.london)
        #expect(Self.bands(svg) == [Self.span(ofBars: hourOfWeek(.sun, 3)...hourOfWeek(.sun, 4))])
        let elements = ElementCollector.parse(svg).elements
        let group = try #require(elements.firstIndex { $0.attributes["class"] == "window" })
        #expect(elements[group + 1].name == "title")
        #expect(
            elements[group + 1].text == "Recommended window: 2026-06-07 03:00 to 05:00 Europe/London, up to 0 active sessions expected")
    }

    @Test("A window across the end of Sunday is drawn as two bands, at the end and at the start of the week")
    func bandAcrossTheWeekBoundary() throws {
        let usage = try histogram(base: 4, [hourOfWeek(.sun, 23): 0, hourOfWeek(.mon, 0): 0])
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: usage, timeZone: Self.london, holidays: [], now: isoInstant("2026-06-01T10:00:00+01:00"))
        let svg = UsageChart.svg(histogram: usage, recommendation: recommendation, timeZone: Self.london, timeZoneLabel: "UK time")
        #expect(Self.bands(svg) == [Self.span(ofBars: 167...167), Self.span(ofBars: 0...0)])
        #expect(svg.contains("2026-06-07 23:00 to 2026-06-08 01:00 UK time"))
    }

    @Test("Without a recommendation there is no band")
    func noBand() throws {
        let svg = UsageChart.svg(histogram: Self.usage, timeZone: Self.london)
        #expect(Self.bands(svg).isEmpty)
        #expect(!svg.contains("Recommended"))
        #expect(ElementCollector.parse(svg).wellFormed)
    }

    @Test("Text from settings is escaped, so markup in a zone label stays text")
    func escaping() throws {
        let label = "<script>alert('x')</script> & \"quotes\"\u{0}"
        let svg = UsageChart.svg(
            histogram: Self.usage, recommendation: try Self.recommendation(), timeZone: Self.london, timeZoneLabel: label)
        let (wellFormed, elements) = ElementCollector.parse(svg)
        #expect(wellFormed)
        #expect(!svg.contains("<script"))
        #expect(!elements.contains { $0.name == "script" })
        #expect(elements.first?.attributes["aria-label"]?.contains("<script>alert('x')</script> & \"quotes\"") == true)
    }

    @Test("The same inputs give byte-for-byte the same chart; a different window gives a different one")
    func deterministic() throws {
        let first = UsageChart.svg(histogram: Self.usage, recommendation: try Self.recommendation(), timeZone: Self.london)
        let second = UsageChart.svg(histogram: Self.usage, recommendation: try Self.recommendation(), timeZone: Self.london)
        #expect(first == second)
        let longer = UsageChart.svg(histogram: Self.usage, recommendation: try Self.recommendation(hours: 3), timeZone: Self.london)
        #expect(longer != first)
    }

    @Test("An empty history still draws a chart, with an axis from 0 to 1")
    func emptyHistory() throws {
        let svg = UsageChart.svg(histogram: UsageHistogram(), timeZone: Self.london)
        let (wellFormed, elements) = ElementCollector.parse(svg)
        #expect(wellFormed)
        #expect(elements.first { $0.attributes["class"] == "axis-max" }?.text == "1")
        #expect(elements.filter { $0.attributes["class"] == "bar unknown" }.count == 168)
    }
}
