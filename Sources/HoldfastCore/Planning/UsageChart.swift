import Foundation

/// A week of usage as a self-contained SVG bar chart, with the recommended window marked.
///
/// The chart is plain markup (no script, no external styles or fonts), so it can be inlined in the status
/// page, attached to an e-mail or saved as a file, and every text is XML-escaped because the zone label may
/// come from tenant settings. Output depends only on the inputs (numbers are written without the locale), so
/// it can be cached and compared in tests.
public enum UsageChart {
    /// Geometry shared by the drawing code and documented for anyone placing the chart.
    public enum Layout {
        public static let width = 900
        public static let height = 250
        /// Where bar 0 (Monday 00:00) starts.
        public static let plotLeft = 56
        public static let plotTop = 36
        public static let plotHeight = 170
        /// Each hour of the week gets this many units across; bars leave one unit of gap.
        public static let barPitch = 5
        public static var plotBottom: Int { Self.plotTop + Self.plotHeight }
        public static var plotWidth: Int { UsageHistogram.hoursPerWeek * Self.barPitch }
    }

    /// Renders the histogram's 168 hours (bar height in proportion to the mean), with day labels, the axis
    /// maximum and, when given, the recommended window as a highlighted band over the hours it covers.
    ///
    /// An hour never sampled is drawn in grey at the height the planner assumes for it, so the picture shows
    /// what the recommendation was based on.
    /// - Parameters:
    ///   - timeZone: The zone the histogram was built in; window times are shown on its wall clock.
    ///   - timeZoneLabel: How to name the zone; defaults to its identifier.
    public static func svg(
        histogram: UsageHistogram,
        recommendation: QuietWindowPlanner.Recommendation? = nil,
        timeZone: TimeZone,
        timeZoneLabel: String? = nil
    ) -> String {
        let label = timeZoneLabel ?? timeZone.identifier
        let loads = histogram.planningLoads
        let peak = loads.max() ?? 0
        let axisMaximum = max(1, Int((peak - QuietWindowPlanner.tolerance(peak)).rounded(.up)))
        let windowText = recommendation.map { self.describe($0, clock: LocalClock(timeZone: timeZone), label: label) }
        let summary =
            "Average active sessions for each hour of the week (\(label)), up to \(self.number(peak))"
            + (windowText.map { "; \($0)" } ?? "")

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Layout.width)" height="\(Layout.height)" \
            viewBox="0 0 \(Layout.width) \(Layout.height)" role="img" aria-label="\(XMLText.escaped(summary))" \
            font-family="sans-serif" font-size="12">

            """
        svg += "<title>\(XMLText.escaped("Usage by hour of week (\(label))"))</title>\n"
        svg += "<desc>\(XMLText.escaped(summary))</desc>\n"
        svg += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"\(Layout.width)\" height=\"\(Layout.height)\" fill=\"#ffffff\"/>\n"
        svg +=
            "<text class=\"heading\" x=\"\(Layout.plotLeft)\" y=\"20\">\(XMLText.escaped("Active sessions by hour of week, \(label)"))</text>\n"

        if let recommendation, let windowText {
            svg += "<g class=\"window\">\n<title>\(XMLText.escaped(windowText))</title>\n"
            for run in self.runs(of: recommendation.hourly.map(\.hourOfWeek)) {
                svg +=
                    "<rect class=\"window-band\" x=\"\(Layout.plotLeft + run.lowerBound * Layout.barPitch)\" y=\"\(Layout.plotTop)\" "
                    + "width=\"\(run.count * Layout.barPitch)\" height=\"\(Layout.plotHeight)\" fill=\"#ffd54f\" fill-opacity=\"0.45\"/>\n"
            }
            svg += "</g>\n"
        }

        svg += "<g class=\"bars\">\n"
        for (hour, load) in loads.enumerated() {
            let bucket = histogram.buckets[hour]
            let barHeight = load / Double(axisMaximum) * Double(Layout.plotHeight)
            let hourText = "\(LocalClock.describe(hourOfWeek: hour))–\(FixedDigits.pad((hour % 24) + 1, 2)):00"
            let tooltip =
                bucket.count > 0
                ? "\(hourText): \(self.number(load)) active sessions on average (\(bucket.count) samples)"
                : "\(hourText): not recorded yet; assumed \(self.number(load)), the average of the recorded hours"
            svg +=
                "<rect class=\"\(bucket.count > 0 ? "bar" : "bar unknown")\" x=\"\(Layout.plotLeft + hour * Layout.barPitch)\" "
                + "y=\"\(self.number(Double(Layout.plotBottom) - barHeight, places: 2))\" width=\"\(Layout.barPitch - 1)\" "
                + "height=\"\(self.number(barHeight, places: 2))\" fill=\"\(bucket.count > 0 ? "#3f6fb5" : "#b0b0b0")\">"
                + "<title>\(XMLText.escaped(tooltip))</title></rect>\n"
        }
        svg += "</g>\n"

        svg += "<g class=\"axes\" stroke=\"#555555\" stroke-width=\"1\">\n"
        svg += "<line x1=\"\(Layout.plotLeft)\" y1=\"\(Layout.plotTop)\" x2=\"\(Layout.plotLeft)\" y2=\"\(Layout.plotBottom)\"/>\n"
        svg +=
            "<line x1=\"\(Layout.plotLeft)\" y1=\"\(Layout.plotBottom)\" x2=\"\(Layout.plotLeft + Layout.plotWidth)\" "
            + "y2=\"\(Layout.plotBottom)\"/>\n"
        for day in 1..<7 {
            let x = Layout.plotLeft + day * 24 * Layout.barPitch
            svg += "<line x1=\"\(x)\" y1=\"\(Layout.plotTop)\" x2=\"\(x)\" y2=\"\(Layout.plotBottom)\" stroke-dasharray=\"2 3\"/>\n"
        }
        svg += "</g>\n"

        svg += "<g class=\"labels\" fill=\"#222222\">\n"
        svg +=
            "<text class=\"axis-max\" x=\"\(Layout.plotLeft - 6)\" y=\"\(Layout.plotTop + 4)\" text-anchor=\"end\">\(axisMaximum)</text>\n"
        svg += "<text class=\"axis-min\" x=\"\(Layout.plotLeft - 6)\" y=\"\(Layout.plotBottom + 4)\" text-anchor=\"end\">0</text>\n"
        for (day, name) in LocalClock.dayNames.enumerated() {
            let x = Layout.plotLeft + day * 24 * Layout.barPitch + 12 * Layout.barPitch
            svg += "<text class=\"day\" x=\"\(x)\" y=\"\(Layout.plotBottom + 18)\" text-anchor=\"middle\">\(name)</text>\n"
        }
        svg +=
            "<text class=\"axis-title\" x=\"\(Layout.plotLeft - 6)\" y=\"\(Layout.plotBottom + 34)\" text-anchor=\"end\">sessions</text>\n"
        svg += "</g>\n</svg>\n"
        return svg
    }

    /// `Recommended window: 2026-03-29 03:00 to 05:00 Europe/London, up to 1 active session expected`.
    private static func describe(_ recommendation: QuietWindowPlanner.Recommendation, clock: LocalClock, label: String) -> String {
        let start = clock.describe(Int(recommendation.startsAt.timeIntervalSince1970.rounded(.down)))
        let end = clock.describe(Int(recommendation.endsAt.timeIntervalSince1970.rounded(.down)))
        // Leave out the end date when it is the start date.
        let endText = end.prefix(10) == start.prefix(10) ? String(end.dropFirst(11)) : end
        let sessions = recommendation.expectedActiveSessions
        return "Recommended window: \(start) to \(endText) \(label), up to \(sessions) active session\(sessions == 1 ? "" : "s") expected"
    }

    /// Runs of consecutive hours of the week, in order of first appearance, so a window drawn across the
    /// end of Sunday becomes two bands and a repeated autumn hour one.
    static func runs(of hours: [Int]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for hour in hours where !runs.contains(where: { $0.contains(hour) }) {
            if let last = runs.last, last.upperBound == hour {
                runs[runs.count - 1] = last.lowerBound..<hour + 1
            } else {
                runs.append(hour..<hour + 1)
            }
        }
        return runs
    }

    /// A non-negative number with at most `places` decimals and no trailing zeros, independent of locale.
    static func number(_ value: Double, places: Int = 1) -> String {
        let scale = (0..<places).reduce(1) { product, _ in product * 10 }
        let scaled = Int((value * Double(scale)).rounded())
        let sign = scaled < 0 ? "-" : ""
        let whole = abs(scaled) / scale
        var fraction = FixedDigits.pad(abs(scaled) % scale, places)
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return sign + "\(whole)" + (fraction.isEmpty ? "" : ".\(fraction)")
    }

}
