import Foundation

/// A plan as a Markdown document (`holdfast plan render --format markdown`, `Accept: text/markdown`).
///
/// Section bodies are already in the ``PlanText`` dialect, which is Markdown, so they are copied as they are;
/// the title and the facts come from data and are escaped. The same plan always gives the same text.
public enum PlanMarkdown {
    public static func render(_ plan: ContinuityPlan, tenantName: String) -> String {
        var lines: [String] = []
        lines.append("# \(PlanText.escaped(plan.kind.title)): \(PlanText.escaped(tenantName))")
        lines.append("")
        for fact in plan.summary {
            lines.append("- \(fact.label): \(PlanText.escaped(fact.value))")
        }
        lines.append("")
        lines.append("## Contents")
        lines.append("")
        for section in plan.sections {
            let indent = section.level == 1 ? "" : "  "
            lines.append("\(indent)- \(PlanText.escaped(section.title))")
        }
        for section in plan.sections {
            lines.append("")
            lines.append("\(section.level == 1 ? "##" : "###") \(PlanText.escaped(section.title))")
            lines.append("")
            lines.append(section.body)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
