//! Readable views of the API's messages, shared by the client commands and the demo.

use accord_proto::v1 as pb;
use time::OffsetDateTime;

use crate::output::{self, name, print_fields, Table};

pub fn findings_table(findings: &[pb::Finding]) -> Table {
    let mut t = Table::new(&["SEVERITY", "RULE", "SOURCE", "MESSAGE"]).wrap(3, 70);
    for f in findings {
        let mut msg = f.message.clone();
        if !f.category_id.is_empty() {
            msg = format!("[{}] {msg}", f.category_id);
        }
        t.row([
            name::<pb::Severity>(f.severity),
            f.rule_id.clone(),
            f.source.clone(),
            msg,
        ]);
    }
    t
}

/// The check's result: outcome, scope, deadline, approvers, then the findings.
pub fn print_assessment(a: &pb::Assessment, now: OffsetDateTime) {
    print_assessment_after(Vec::new(), a, now);
}

/// [`print_assessment`] with `fields` first, aligned with the assessment's.
pub fn print_assessment_after(
    mut fields: Vec<(&'static str, String)>,
    a: &pb::Assessment,
    now: OffsetDateTime,
) {
    fields.push((
        "outcome",
        name::<pb::AssessmentOutcome>(a.outcome).replace('_', " "),
    ));
    fields.push(("proposed scope", output::list(&a.proposed_scope)));
    if !a.trimmed_categories.is_empty() {
        fields.push(("trimmed", output::list(&a.trimmed_categories)));
    }
    if a.respond_by.is_some() {
        fields.push((
            "respond by",
            format!(
                "{} ({})",
                output::time(a.respond_by.as_ref()),
                output::relative(a.respond_by.as_ref(), now)
            ),
        ));
    }
    if !a.required_approver_roles.is_empty() && a.outcome != pb::AssessmentOutcome::Refuse as i32 {
        let roles: Vec<String> = a
            .required_approver_roles
            .iter()
            .map(|r| name::<pb::Role>(*r))
            .collect();
        fields.push(("to be approved by", roles.join(", ")));
    }
    print_fields(&fields);
    if a.findings.is_empty() {
        outln!("no findings");
    } else {
        outln!();
        findings_table(&a.findings).print();
    }
}

pub fn summaries_table(list: &[pb::ExchangeSummary], now: OffsetDateTime) -> Table {
    let mut t = Table::new(&[
        "EXCHANGE",
        "STATE",
        "PURPOSE",
        "REQUESTER",
        "HOLDER",
        "NEED",
        "URGENCY",
        "CREATED",
        "RESPOND BY",
    ]);
    for x in list {
        let mut due = output::relative(x.respond_by.as_ref(), now);
        if x.overdue {
            due = format!("OVERDUE {due}");
        }
        t.row([
            x.id.clone(),
            name::<pb::ExchangeState>(x.state),
            x.purpose_id.clone(),
            x.requesting_agency_id.clone(),
            x.holding_agency_id.clone(),
            name::<pb::LevelOfNeed>(x.level_of_need),
            name::<pb::Urgency>(x.urgency),
            output::time(x.created_at.as_ref()),
            due,
        ]);
    }
    t
}

fn subject_line(s: &pb::Subject) -> String {
    let mut parts = Vec::new();
    if !s.name.is_empty() {
        parts.push(s.name.clone());
    }
    if !s.relationship.is_empty() {
        parts.push(format!("({})", s.relationship));
    }
    if !s.date_of_birth.is_empty() {
        parts.push(format!("born {}", s.date_of_birth));
    }
    for i in &s.identifiers {
        parts.push(format!("{} {}", i.scheme, i.value));
    }
    if !s.identifiable {
        parts.push("[not identifiable]".into());
    }
    parts.join(", ")
}

/// One exchange in full: the request, the check, the decisions, the requester's actions.
pub fn print_exchange(x: &pb::Exchange, now: OffsetDateTime) {
    let r = x.request.clone().unwrap_or_default();
    let p = r.practitioner.clone().unwrap_or_default();
    let mut fields = vec![
        ("exchange", x.id.clone()),
        (
            "state",
            format!(
                "{} (version {}){}",
                name::<pb::ExchangeState>(x.state),
                x.version,
                if x.overdue { ", OVERDUE" } else { "" }
            ),
        ),
        (
            "protocol",
            format!("{} v{}", r.protocol_id, r.protocol_version),
        ),
        ("purpose", r.purpose_id.clone()),
        (
            "requester",
            format!(
                "{}: {} ({}, {}), {}",
                r.requesting_agency_id, p.name, p.subject, p.job_title, p.contact
            ),
        ),
        ("holder", r.holding_agency_id.clone()),
        (
            "child",
            r.child.as_ref().map(subject_line).unwrap_or_default(),
        ),
    ];
    for o in &r.other_people {
        fields.push(("also about", subject_line(o)));
    }
    fields.push((
        "need",
        format!(
            "{}, urgency {}",
            name::<pb::LevelOfNeed>(r.level_of_need),
            name::<pb::Urgency>(r.urgency)
        ),
    ));
    if let Some(lb) = &r.lawful_basis {
        let gw: Vec<String> = lb
            .gateways
            .iter()
            .map(|g| name::<pb::StatutoryGateway>(*g))
            .collect();
        fields.push((
            "lawful basis",
            format!(
                "{}; special category: {}; gateways: {}",
                name::<pb::LawfulBasis>(lb.article6),
                name::<pb::SpecialCategoryCondition>(lb.special_condition),
                output::list(&gw)
            ),
        ));
    }
    if let Some(c) = &r.consent {
        fields.push(("consent", consent_line(c)));
    }
    let cats: Vec<String> = r
        .categories
        .iter()
        .map(|c| format!("{}: {}", c.category_id, c.reason))
        .collect();
    fields.push(("sought", cats.join("\n")));
    fields.push(("justification", r.necessity_justification.clone()));
    fields.push(("expected outcome", r.expected_outcome.clone()));
    fields.push(("created", output::time(x.created_at.as_ref())));
    fields.push(("updated", output::time(x.updated_at.as_ref())));
    if x.respond_by.is_some() {
        fields.push((
            "respond by",
            format!(
                "{} ({})",
                output::time(x.respond_by.as_ref()),
                output::relative(x.respond_by.as_ref(), now)
            ),
        ));
    }
    if !x.approved_categories.is_empty() {
        fields.push(("approved", output::list(&x.approved_categories)));
        fields.push(("conditions", output::conditions(x.conditions.as_ref())));
    }
    fields.push((
        "response",
        if x.response_available {
            "available to fetch".to_owned()
        } else {
            "none".to_owned()
        },
    ));
    print_fields(&fields);
    if let Some(a) = &x.assessment {
        output::heading("Check");
        print_assessment(a, now);
    }
    if !x.decisions.is_empty() {
        output::heading("Decisions");
        decisions_table(&x.decisions).print();
    }
    if !x.requester_actions.is_empty() {
        output::heading("Requester's actions");
        let mut t = Table::new(&["TIME", "BY", "ACTION", "TEXT"]).wrap(3, 70);
        for a in &x.requester_actions {
            t.row([
                output::time(a.acted_at.as_ref()),
                a.acted_by.clone(),
                name::<pb::RequesterActionKind>(a.kind),
                a.text.clone(),
            ]);
        }
        t.print();
    }
}

pub fn decisions_table(decisions: &[pb::Decision]) -> Table {
    let mut t = Table::new(&["TIME", "BY", "ROLE", "DECISION", "DETAIL"]).wrap(4, 70);
    for d in decisions {
        t.row([
            output::time(d.decided_at.as_ref()),
            d.decided_by.clone(),
            name::<pb::Role>(d.decided_by_role),
            name::<pb::DecisionKind>(d.kind),
            decision_detail(d),
        ]);
    }
    t
}

pub fn decision_detail(d: &pb::Decision) -> String {
    let mut parts = Vec::new();
    if !d.categories.is_empty() {
        parts.push(format!("categories: {}", d.categories.join(", ")));
    }
    if d.conditions.is_some() {
        parts.push(format!(
            "conditions: {}",
            output::conditions(d.conditions.as_ref())
        ));
    }
    if !d.reasons.is_empty() {
        parts.push(format!("reasons: {}", d.reasons.join("; ")));
    }
    if !d.questions.is_empty() {
        parts.push(format!("questions: {}", d.questions.join("; ")));
    }
    if !d.note.is_empty() {
        parts.push(format!("note: {}", d.note));
    }
    parts.join("\n")
}

pub fn consent_line(c: &pb::Consent) -> String {
    let mut s = name::<pb::ConsentStatus>(c.status);
    match pb::ConsentStatus::try_from(c.status) {
        Ok(pb::ConsentStatus::Obtained | pb::ConsentStatus::Withdrawn) => {
            s.push_str(&format!(
                " from {} ({}) on {}{}",
                c.given_by_name,
                name::<pb::ConsentGiver>(c.given_by),
                c.given_on,
                if c.explicit {
                    ", explicit"
                } else {
                    ", not explicit"
                }
            ));
        }
        Ok(pb::ConsentStatus::NotSought) => {
            let r: Vec<String> = c
                .not_sought_reasons
                .iter()
                .map(|r| name::<pb::NotSoughtReason>(*r))
                .collect();
            s.push_str(&format!(": {}", output::list(&r)));
        }
        Ok(pb::ConsentStatus::NotRequired) => {
            s.push_str(&format!(
                ": {}",
                name::<pb::NotRequiredReason>(c.not_required_reason)
            ));
        }
        _ => {}
    }
    s
}

pub fn items_table(items: &[pb::ResponseItem]) -> Table {
    let mut t = Table::new(&["CATEGORY", "KIND", "RECORDED", "CONTENT"]).wrap(3, 70);
    for i in items {
        let mut recorded = i.recorded_on.clone();
        if i.historical {
            recorded.push_str(" (historical)");
        }
        let mut content = i.content.clone();
        if !i.source_system.is_empty() {
            content.push_str(&format!(" [from {}]", i.source_system));
        }
        t.row([
            i.category_id.clone(),
            name::<pb::ItemKind>(i.kind),
            recorded,
            content,
        ]);
    }
    t
}

pub fn inbox_table(events: &[pb::InboxEvent]) -> Table {
    let mut t =
        Table::new(&["TIME", "EVENT", "EXCHANGE", "STATE", "SUMMARY", "CURSOR"]).wrap(4, 60);
    for e in events {
        t.row(inbox_row(e));
    }
    t
}

pub fn inbox_row(e: &pb::InboxEvent) -> Vec<String> {
    vec![
        output::time(e.occurred_at.as_ref()),
        name::<pb::InboxEventKind>(e.kind),
        e.exchange_id.clone(),
        name::<pb::ExchangeState>(e.state),
        e.summary.clone(),
        e.cursor.clone(),
    ]
}

/// `a → b` for a state change, empty when the entry is not one.
pub fn state_change(e: &pb::AuditEntry) -> String {
    if e.state_to == 0 {
        return String::new();
    }
    let from = if e.state_from == 0 {
        "new".to_owned()
    } else {
        name::<pb::ExchangeState>(e.state_from)
    };
    format!("{from} -> {}", name::<pb::ExchangeState>(e.state_to))
}

pub fn audit_table(entries: &[pb::AuditEntry]) -> Table {
    let mut t = Table::new(&[
        "SEQ",
        "TIME",
        "EVENT",
        "ACTOR",
        "AGENCIES",
        "STATE CHANGE",
        "HASH",
    ]);
    for e in entries {
        let agencies = match (
            e.requesting_agency_id.is_empty(),
            e.holding_agency_id.is_empty(),
        ) {
            (false, false) => format!("{} -> {}", e.requesting_agency_id, e.holding_agency_id),
            _ => e.actor_agency_id.clone(),
        };
        let actor = match (e.actor_subject.is_empty(), e.actor_role) {
            (true, _) => "broker".to_owned(),
            (false, 0) => e.actor_subject.clone(),
            (false, role) => format!("{} ({})", e.actor_subject, name::<pb::Role>(role)),
        };
        t.row([
            e.sequence.to_string(),
            output::time(e.occurred_at.as_ref()),
            e.event_kind.clone(),
            actor,
            agencies,
            state_change(e),
            output::short_hash(&e.entry_hash, 12),
        ]);
    }
    t
}

pub fn print_verify(v: &pb::VerifyAuditResponse) {
    let mut fields = vec![
        (
            "result",
            if v.ok {
                "OK: the log is intact".to_owned()
            } else {
                "FAILED: the log does not verify".to_owned()
            },
        ),
        ("entries checked", v.entries_checked.to_string()),
        ("head", format!("{} {}", v.head_sequence, v.head_hash)),
        (
            "last checkpoint",
            if v.last_checkpoint_sequence == 0 {
                "none yet".to_owned()
            } else {
                format!(
                    "{} (signature {})",
                    v.last_checkpoint_sequence,
                    if v.checkpoint_signature_valid {
                        "valid"
                    } else {
                        "INVALID"
                    }
                )
            },
        ),
    ];
    if let Some(bad) = v.first_bad_sequence {
        fields.push(("first bad entry", bad.to_string()));
    }
    if !v.problem.is_empty() {
        fields.push(("problem", v.problem.clone()));
    }
    print_fields(&fields);
}

fn duration_text(d: Option<&prost_types::Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) => {
            let s = d.seconds;
            if s < 120 {
                format!("{s}s")
            } else if s < 7200 {
                format!("{}m", s / 60)
            } else if s < 172_800 {
                format!("{:.1}h", s as f64 / 3600.0)
            } else {
                format!("{:.1}d", s as f64 / 86_400.0)
            }
        }
    }
}

pub fn print_stats(s: &pb::GetStatisticsResponse) {
    print_fields(&[
        ("exchanges", s.total_exchanges.to_string()),
        ("overdue", s.overdue_count.to_string()),
        (
            "time to decision",
            format!(
                "median {}, 90th percentile {}",
                duration_text(s.median_time_to_decision.as_ref()),
                duration_text(s.p90_time_to_decision.as_ref())
            ),
        ),
    ]);
    if !s.by_state.is_empty() {
        output::heading("By state");
        let mut t = Table::new(&["STATE", "EXCHANGES"]);
        for c in &s.by_state {
            t.row([name::<pb::ExchangeState>(c.state), c.count.to_string()]);
        }
        t.print();
    }
    if !s.by_purpose.is_empty() {
        output::heading("By purpose");
        let mut t = Table::new(&["PURPOSE", "EXCHANGES"]);
        for c in &s.by_purpose {
            t.row([c.purpose_id.clone(), c.count.to_string()]);
        }
        t.print();
    }
    if !s.by_agency_pair.is_empty() {
        output::heading("By agencies");
        let mut t = Table::new(&["REQUESTER", "HOLDER", "EXCHANGES"]);
        for c in &s.by_agency_pair {
            t.row([
                c.requesting_agency_id.clone(),
                c.holding_agency_id.clone(),
                c.count.to_string(),
            ]);
        }
        t.print();
    }
}

pub fn signatories_table(list: &[pb::Signatory]) -> Table {
    let mut t = Table::new(&[
        "AGENCY",
        "NAME",
        "KIND",
        "S115",
        "STATUS",
        "LAST AFFIRMED",
        "EVERY",
        "REAFFIRM BY",
    ])
    .wrap(1, 44);
    for s in list {
        let mut status = name::<pb::SignatoryStatus>(s.status);
        if !s.status_reason.is_empty() {
            status = format!("{status}: {}", s.status_reason);
        }
        t.row([
            s.agency_id.clone(),
            s.name.clone(),
            name::<pb::AgencyKind>(s.kind),
            if s.relevant_authority { "yes" } else { "no" }.to_owned(),
            status,
            s.last_affirmed_on.clone(),
            format!("{}m", s.reaffirm_every_months),
            s.reaffirm_due.clone(),
        ]);
    }
    t
}

/// A protocol duration in the protocol file's units: `30m`, `24h`, `10d` (whole days from two
/// days up, so a day reads as `24h`, as protocols usually write it).
fn deadline_text(d: Option<&prost_types::Duration>) -> String {
    match d.map(|d| d.seconds) {
        None => "-".into(),
        Some(s) if s >= 2 * 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        Some(s) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

fn names<E: output::Vocab + TryFrom<i32>>(values: &[i32]) -> Vec<String> {
    values.iter().map(|v| name::<E>(*v)).collect()
}

/// Who approves: the purpose's roles, and the further ones for sharing without consent.
fn approvers_text(u: &pb::Purpose) -> String {
    let mut text = output::list(&names::<pb::Role>(&u.approving_roles));
    if !u.approving_roles_without_consent.is_empty() {
        text.push_str(&format!(
            "; without consent also {}",
            names::<pb::Role>(&u.approving_roles_without_consent).join(", ")
        ));
    }
    text
}

/// The purpose's gateways, each that puts a duty to share marked `(duty)`.
fn gateways_text(u: &pb::Purpose) -> String {
    let gateways: Vec<String> = u
        .gateways
        .iter()
        .map(|g| {
            let n = name::<pb::StatutoryGateway>(*g);
            if u.duty_gateways.contains(g) {
                format!("{n} (duty)")
            } else {
                n
            }
        })
        .collect();
    output::list(&gateways)
}

/// The terms of each purpose: what a request for it may claim, which consent it needs at each
/// level of need, how fast it is answered and what it may ask for.
pub fn purposes_tables(purposes: &[pb::Purpose]) -> Vec<(&'static str, Table)> {
    let mut terms = Table::new(&[
        "PURPOSE",
        "LAWFUL BASES",
        "SPECIAL CONDITIONS",
        "GATEWAYS",
        "KEEP",
        "APPROVED BY",
    ])
    .wrap(1, 24)
    .wrap(2, 26)
    .wrap(3, 26)
    .wrap(5, 30);
    let levels = [
        pb::LevelOfNeed::EarlyHelp,
        pb::LevelOfNeed::ChildInNeed,
        pb::LevelOfNeed::SignificantHarm,
        pb::LevelOfNeed::ImmediateRisk,
    ];
    let urgencies = [
        pb::Urgency::Routine,
        pb::Urgency::Urgent,
        pb::Urgency::Immediate,
    ];
    let mut consent = Table::new(&[
        "PURPOSE",
        "EARLY HELP",
        "CHILD IN NEED",
        "SIGNIFICANT HARM",
        "IMMEDIATE RISK",
        "ROUTINE",
        "URGENT",
        "IMMEDIATE",
    ]);
    let mut categories =
        Table::new(&["PURPOSE", "CATEGORIES (* special category data)"]).wrap(1, 80);
    for u in purposes {
        terms.row([
            u.id.clone(),
            output::list(&names::<pb::LawfulBasis>(&u.lawful_bases)),
            output::list(&names::<pb::SpecialCategoryCondition>(
                &u.special_conditions,
            )),
            gateways_text(u),
            format!("{}d", u.retention_days),
            approvers_text(u),
        ]);
        let mut row = vec![u.id.clone()];
        row.extend(levels.iter().map(|l| {
            u.consent_rules
                .iter()
                .find(|r| r.level_of_need == *l as i32)
                .map(|r| name::<pb::ConsentRequirement>(r.requirement))
                .unwrap_or_else(|| "-".into())
        }));
        row.extend(urgencies.iter().map(|g| {
            deadline_text(
                u.deadlines
                    .iter()
                    .find(|d| d.urgency == *g as i32)
                    .and_then(|d| d.within.as_ref()),
            )
        }));
        consent.row(row);
        let cats: Vec<String> = u
            .allowed_categories
            .iter()
            .map(|c| {
                if c.special_category {
                    format!("{}*", c.id)
                } else {
                    c.id.clone()
                }
            })
            .collect();
        categories.row([u.id.clone(), output::list(&cats)]);
    }
    vec![
        ("Purposes", terms),
        ("Consent by level of need, deadlines by urgency", consent),
        ("Categories each purpose allows", categories),
    ]
}

pub fn print_protocol(p: &pb::Protocol) {
    print_fields(&[
        ("protocol", format!("{} v{}", p.id, p.version)),
        ("title", p.title.clone()),
        ("approved", p.approved_on.clone()),
        ("review due", p.review_due.clone()),
        ("capacity age", p.consent_capacity_age.to_string()),
        (
            "repeat window",
            p.repeat_sharing_window
                .as_ref()
                .map(|d| format!("{} days", d.seconds / 86_400))
                .unwrap_or_else(|| "-".into()),
        ),
    ]);
    output::heading("Signatories");
    signatories_table(&p.signatories).print();
    for (title, table) in purposes_tables(&p.purposes) {
        output::heading(title);
        table.print();
    }
    output::heading("Data categories");
    let mut t = Table::new(&["CATEGORY", "SPECIAL", "DESCRIPTION"]).wrap(2, 70);
    for c in &p.categories {
        t.row([
            c.id.clone(),
            if c.special_category { "yes" } else { "no" }.to_owned(),
            c.description.clone(),
        ]);
    }
    t.print();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purpose() -> pb::Purpose {
        let rule = |level: pb::LevelOfNeed, req: pb::ConsentRequirement| pb::ConsentRule {
            level_of_need: level as i32,
            consent_required: req == pb::ConsentRequirement::Explicit,
            explicit: req == pb::ConsentRequirement::Explicit,
            requirement: req as i32,
        };
        let deadline = |urgency: pb::Urgency, seconds: i64| pb::Deadline {
            urgency: urgency as i32,
            within: Some(prost_types::Duration { seconds, nanos: 0 }),
        };
        pb::Purpose {
            id: "health-information".into(),
            lawful_bases: vec![pb::LawfulBasis::PublicTask as i32],
            gateways: vec![
                pb::StatutoryGateway::Ca2004S11 as i32,
                pb::StatutoryGateway::CourtOrder as i32,
            ],
            duty_gateways: vec![pb::StatutoryGateway::CourtOrder as i32],
            special_conditions: vec![pb::SpecialCategoryCondition::HealthSocialCare as i32],
            consent_rules: vec![
                rule(pb::LevelOfNeed::EarlyHelp, pb::ConsentRequirement::Explicit),
                rule(pb::LevelOfNeed::ChildInNeed, pb::ConsentRequirement::Sought),
                rule(
                    pb::LevelOfNeed::SignificantHarm,
                    pb::ConsentRequirement::NotRequired,
                ),
                rule(
                    pb::LevelOfNeed::ImmediateRisk,
                    pb::ConsentRequirement::NotRequired,
                ),
            ],
            deadlines: vec![
                deadline(pb::Urgency::Routine, 10 * 86_400),
                deadline(pb::Urgency::Urgent, 86_400),
                deadline(pb::Urgency::Immediate, 1_800),
            ],
            retention_days: 30,
            approving_roles: vec![pb::Role::IgLead as i32],
            approving_roles_without_consent: vec![pb::Role::CaldicottGuardian as i32],
            allowed_categories: vec![
                pb::DataCategory {
                    id: "mental-health".into(),
                    description: "Mental health".into(),
                    special_category: true,
                },
                pb::DataCategory {
                    id: "identity".into(),
                    description: "Name".into(),
                    special_category: false,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn approvers_and_gateways_read_as_sentences() {
        let u = purpose();
        assert_eq!(
            approvers_text(&u),
            "ig_lead; without consent also caldicott_guardian"
        );
        assert_eq!(gateways_text(&u), "ca2004_s11, court_order (duty)");
        let plain = pb::Purpose {
            approving_roles: vec![pb::Role::IgLead as i32],
            ..Default::default()
        };
        assert_eq!(approvers_text(&plain), "ig_lead");
        assert_eq!(gateways_text(&plain), "-");
    }

    #[test]
    fn purposes_tables_show_every_term() {
        let text: String = purposes_tables(&[purpose()])
            .iter()
            .map(|(title, t)| format!("{title}\n{}", t.render()))
            .collect();
        for expected in [
            "public_task",
            "health_social_care",
            "court_order",
            "(duty)",
            "caldicott_guardian",
            "30d",
            "explicit",
            "sought",
            "not_required",
            "10d",
            "24h",
            "30m",
            "mental-health*, identity",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }
}
