import Mustache

// The support desk's page models hand Mustache their values by name.
//
// Without this, Mustache reads a model through `Mirror` for every `{{key}}`: it builds all of the
// struct's children and demangles their types each time. That was two thirds of the CPU of
// `/support` and `/console` (50 rows of several keys each). A `switch` over the stored properties
// gives the same values: a nil optional is nil (so Mustache looks further up the stack, as it does
// for a nil child through `Mirror`), and an unknown name is nil. `PageModelMustacheTests` checks
// each model against `Mirror`, so a property added without its case fails there.

extension PageChrome: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": self.title
        case "user": self.user
        default: nil
        }
    }
}

extension PageChrome.SignedIn: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "email": self.email
        case "role": self.role
        case "tenantName": self.tenantName
        case "tenantSlug": self.tenantSlug
        case "canAdminister": self.canAdminister
        case "isTeam": self.isTeam
        default: nil
        }
    }
}

extension SessionRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "kind": self.kind
        case "state": self.state
        case "createdAt": self.createdAt
        case "expiresAt": self.expiresAt
        case "graceSeconds": self.graceSeconds
        case "isHeld": self.isHeld
        default: nil
        }
    }
}

extension TicketRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "number": self.number
        case "kind": self.kind
        case "channel": self.channel
        case "status": self.status
        case "subject": self.subject
        case "createdAt": self.createdAt
        case "dueAt": self.dueAt
        case "respondedAt": self.respondedAt
        case "unverified": self.unverified
        default: nil
        }
    }
}

extension SupportPage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "page": self.page
        case "ticketRows": self.ticketRows
        case "hasTickets": self.hasTickets
        case "kinds": self.kinds
        case "sessions": self.sessions
        case "hasSessions": self.hasSessions
        case "isTeam": self.isTeam
        default: nil
        }
    }
}

extension ReplyRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "author": self.author
        case "side": self.side
        case "isNote": self.isNote
        case "body": self.body
        case "channel": self.channel
        case "createdAt": self.createdAt
        default: nil
        }
    }
}

extension EventRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "at": self.at
        case "type": self.type
        case "detail": self.detail
        default: nil
        }
    }
}

extension TicketPage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "page": self.page
        case "ticket": self.ticket
        case "description": self.description
        case "whatHappened": self.whatHappened
        case "occurredAt": self.occurredAt
        case "requester": self.requester
        case "replies": self.replies
        case "timeline": self.timeline
        case "hasTimeline": self.hasTimeline
        case "isTeam": self.isTeam
        case "statuses": self.statuses
        default: nil
        }
    }
}

extension QueueRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "ticket": self.ticket
        case "timeLeft": self.timeLeft
        case "isBreached": self.isBreached
        case "isDueSoon": self.isDueSoon
        default: nil
        }
    }
}

extension ConsolePage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "page": self.page
        case "rows": self.rows
        case "hasEntries": self.hasEntries
        case "zone": self.zone
        case "previousOffset": self.previousOffset
        case "nextOffset": self.nextOffset
        default: nil
        }
    }
}

extension MessagePage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "page": self.page
        case "heading": self.heading
        case "text": self.text
        default: nil
        }
    }
}
