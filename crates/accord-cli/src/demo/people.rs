//! The people of the demo, one per role an agency plays in it.

/// One person: their agency, user id (the token's `sub`), name and role.
pub(super) struct Person {
    pub(super) agency: &'static str,
    pub(super) sub: &'static str,
    pub(super) name: &'static str,
    pub(super) role: &'static str,
}

pub(super) const SCHOOL_DSL: Person = Person {
    agency: "sandwell-schools",
    sub: "dsl-okoro",
    name: "Grace Okoro, designated safeguarding lead",
    role: "practitioner",
};
pub(super) const SOCIAL_WORKER: Person = Person {
    agency: "sandwell-childrens-trust",
    sub: "sw-4471",
    name: "Sam Okafor",
    role: "practitioner",
};
pub(super) const POLICE_IG: Person = Person {
    agency: "west-midlands-police",
    sub: "ig-patel",
    name: "Ravi Patel, information governance lead",
    role: "ig_lead",
};
pub(super) const POLICE_OFFICER: Person = Person {
    agency: "west-midlands-police",
    sub: "pc-2231",
    name: "PC Lisa Grant, public protection unit",
    role: "practitioner",
};
pub(super) const NHS_IG: Person = Person {
    agency: "sandwell-west-birmingham-nhs",
    sub: "ig-jones",
    name: "Mark Jones, information governance lead",
    role: "ig_lead",
};
pub(super) const NHS_HEAD_OF_IG: Person = Person {
    agency: "sandwell-west-birmingham-nhs",
    sub: "ig-shah",
    name: "Dr Priya Shah, head of information governance",
    role: "ig_lead",
};
pub(super) const NHS_NURSE: Person = Person {
    agency: "sandwell-west-birmingham-nhs",
    sub: "sn-5520",
    name: "Ann Clarke, named nurse for safeguarding",
    role: "practitioner",
};
pub(super) const COUNCIL_EDT: Person = Person {
    agency: "sandwell-council",
    sub: "edt-3310",
    name: "Tom Hughes, emergency duty team",
    role: "practitioner",
};
pub(super) const AUDITOR: Person = Person {
    agency: "sandwell-council",
    sub: "scsp-audit",
    name: "SCSP business unit auditor",
    role: "auditor",
};
