import Foundation

/// What the public status page (and `GET /status`) shows at one instant, computed from the stored incidents and
/// maintenance windows.
///
/// A component's state is the worst (``ComponentState/severity``) of: the impact of every open incident that names
/// it, and `under-maintenance` for every window underway on it. So an outage still shows during planned work,
/// while a mere slowdown does not hide the maintenance notice. Maintenance is judged by the clock as well as by
/// state (``MaintenanceWindow/isUnderway(at:)``), so the page is right even between two ticks of the maintenance
/// clock.
public struct StatusPage: Sendable, Codable, Hashable {
    /// One row of the component list.
    public struct Row: Sendable, Codable, Hashable {
        public var component: StatusComponent
        public var state: ComponentState

        public init(component: StatusComponent, state: ComponentState) {
            self.component = component
            self.state = state
        }
    }

    /// Every component, in ``StatusComponent`` order.
    public var components: [Row]
    /// Incidents not yet resolved, newest first.
    public var openIncidents: [Incident]
    /// Windows underway now, earliest start first.
    public var currentMaintenance: [MaintenanceWindow]
    /// Scheduled windows that have not started, earliest start first.
    public var upcomingMaintenance: [MaintenanceWindow]

    public init(
        components: [Row], openIncidents: [Incident], currentMaintenance: [MaintenanceWindow], upcomingMaintenance: [MaintenanceWindow]
    ) {
        self.components = components
        self.openIncidents = openIncidents
        self.currentMaintenance = currentMaintenance
        self.upcomingMaintenance = upcomingMaintenance
    }

    /// Computes the page from everything stored; resolved incidents and finished windows are simply left out.
    public static func compute(incidents: [Incident], windows: [MaintenanceWindow], at now: Date) -> StatusPage {
        let open = incidents.filter(\.isOpen).sorted { ($0.createdAt, $0.id.description) > ($1.createdAt, $1.id.description) }
        let current = windows.filter { $0.isUnderway(at: now) }.sorted(by: Self.byStart)
        let upcoming = windows.filter { $0.isUpcoming(at: now) }.sorted(by: Self.byStart)
        let rows = StatusComponent.allCases.map { component in
            let states =
                open.filter { $0.components.contains(component) }.map(\.impact.componentState)
                + current.filter { $0.components.contains(component) }.map { _ in ComponentState.underMaintenance }
            return Row(component: component, state: states.max() ?? .operational)
        }
        return StatusPage(components: rows, openIncidents: open, currentMaintenance: current, upcomingMaintenance: upcoming)
    }

    /// The state of one component.
    public func state(of component: StatusComponent) -> ComponentState {
        self.components.first { $0.component == component }?.state ?? .operational
    }

    /// The worst state of any component: the one-line summary at the top of the page.
    public var overall: ComponentState { self.components.map(\.state).max() ?? .operational }

    private static func byStart(_ lhs: MaintenanceWindow, _ rhs: MaintenanceWindow) -> Bool {
        (lhs.startsAt, lhs.id.description) < (rhs.startsAt, rhs.id.description)
    }
}
