//! Scene (b): a s47 request approved in part with conditions, answered with fact and opinion
//! items, fetched and acknowledged.

use accord_proto::v1 as pb;
use accord_proto::v1::decide_request::Decision;
use anyhow::Context as _;
use time::OffsetDateTime;

use super::people::{POLICE_IG, POLICE_OFFICER, SOCIAL_WORKER};
use super::{act, expect_refusal, inbox_for, is, scenario, state, Demo, Played};
use crate::output::name;
use crate::reqfile::{RequestFile, ResponseFile};
use crate::{approvals_cmd, examples, request_cmd, response_cmd, view};

pub(super) async fn play(demo: &mut Demo) -> anyhow::Result<Played> {
    let now = OffsetDateTime::now_utc;
    scenario(
        'b',
        "A s47 enquiry, approved in part and delivered",
        "A Sandwell Children's Trust social worker asks West Midlands Police for domestic abuse, \
         household and offending information about a 9-year-old's mother's partner, under s47 \
         Children Act 1989 (crates/accord-cli/examples/request.toml). The police IG lead approves \
         two of the three categories, with conditions; an officer answers with fact and opinion \
         items; the social worker fetches the response and acknowledges it.",
    );
    let sw = demo.person(&SOCIAL_WORKER).await?;
    act(
        &SOCIAL_WORKER,
        "submits the example request file to west-midlands-police",
    );
    let file: RequestFile =
        toml::from_str(examples::REQUEST).context("the example request file")?;
    let r = request_cmd::submit(&sw, &file).await?;
    request_cmd::print_submitted(&r, now());
    let b_id = r.exchange_id.clone();
    demo.check(
        is(r.state, pb::ExchangeState::AwaitingApproval),
        "the check sends it to the police IG lead (awaiting_approval)",
    )?;
    let scope = r.assessment.clone().unwrap_or_default().proposed_scope;
    demo.check(
        scope.len() == 3,
        format!("all three categories are proposed ({})", scope.join(", ")),
    )?;

    let police_ig = demo.person(&POLICE_IG).await?;
    act(&POLICE_IG, "reads the police inbox");
    let events = inbox_for(&police_ig, &b_id, pb::InboxEventKind::RequestReceived).await?;
    view::inbox_table(&events).print();
    demo.check(
        events
            .iter()
            .any(|e| e.kind == pb::InboxEventKind::RequestReceived as i32),
        "the holder's inbox has the request",
    )?;
    act(&POLICE_IG, "lists what awaits a decision");
    let pending = approvals_cmd::pending(&police_ig, false, 50, "").await?;
    approvals_cmd::pending_table(&pending.exchanges, now()).print();
    demo.check(
        pending.exchanges.iter().any(|x| x.id == b_id),
        "the request is on the IG lead's list",
    )?;
    act(
        &POLICE_IG,
        "approves domestic-abuse and household-and-relationships only, with conditions",
    );
    let x = approvals_cmd::decide(
        &police_ig,
        &b_id,
        Decision::ApprovePart(pb::ApprovePart {
            categories: vec!["domestic-abuse".into(), "household-and-relationships".into()],
            conditions: Some(pb::Conditions {
                no_onward_disclosure: true,
                retention_days: 30,
                inform_subject: false,
                other: "For the strategy meeting only; ask again for the partner's convictions through a Clare's Law disclosure.".into(),
            }),
        }),
        "Offending history left out: not necessary for the strategy meeting (002 App.2 Q1).",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    view::decisions_table(&x.decisions).print();
    demo.check(
        state(&x) == pb::ExchangeState::PartlyApproved,
        "the exchange is partly_approved",
    )?;
    demo.check(
        x.approved_categories.len() == 2
            && !x
                .approved_categories
                .iter()
                .any(|c| c == "offending-history"),
        "only the two approved categories may be shared",
    )?;

    let officer = demo.person(&POLICE_OFFICER).await?;
    act(
        &POLICE_OFFICER,
        "tries to include offending-history in the response",
    );
    let refused = expect_refusal(
        response_cmd::submit(
            &officer,
            &b_id,
            vec![pb::ResponseItem {
                category_id: "offending-history".into(),
                kind: pb::ItemKind::Fact as i32,
                content: "Conviction for assault, 2021.".into(),
                recorded_on: "2021-06-01".into(),
                historical: false,
                source_system: "PNC".into(),
            }],
            None,
        )
        .await,
    );
    if let Some(e) = &refused {
        outln!("  refused: {}", e.brief());
    }
    demo.check(
        refused.is_some(),
        "the broker refuses a category that was not approved",
    )?;
    act(
        &POLICE_OFFICER,
        "sends the response (crates/accord-cli/examples/response.toml)",
    );
    let items = toml::from_str::<ResponseFile>(examples::RESPONSE)
        .context("the example response file")?
        .to_proto()?;
    let sent = response_cmd::submit(&officer, &b_id, items, None).await?;
    request_cmd::print_changed(false, sent.exchange.as_ref(), "3 items sent")?;
    outln!("  content sha-256 {}", sent.content_sha256);
    demo.check(
        sent.exchange
            .as_ref()
            .is_some_and(|x| state(x) == pb::ExchangeState::Responded),
        "the exchange is responded",
    )?;

    act(&SOCIAL_WORKER, "fetches the response");
    let fetched = response_cmd::fetch(&sw, &b_id).await?;
    response_cmd::print_fetched(&fetched);
    let resp = fetched.response.clone().unwrap_or_default();
    demo.check(
        is(fetched.state, pb::ExchangeState::Delivered) && resp.items.len() == 3,
        "the three items are delivered",
    )?;
    demo.check(
        resp.items
            .iter()
            .any(|i| i.kind == pb::ItemKind::Fact as i32)
            && resp
                .items
                .iter()
                .any(|i| i.kind == pb::ItemKind::Opinion as i32),
        "each item says whether it is fact or opinion",
    )?;
    demo.check(
        fetched
            .conditions
            .as_ref()
            .is_some_and(|c| c.no_onward_disclosure && c.retention_days == 30),
        "the approval's conditions travel with the content",
    )?;
    demo.check(
        resp.content_sha256 == sent.content_sha256,
        "the digest fetched is the digest sent",
    )?;
    act(&SOCIAL_WORKER, "acknowledges receipt");
    let x = response_cmd::acknowledge(
        &sw,
        &b_id,
        "Shared at the strategy meeting; safety plan agreed.",
        0,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "acknowledged")?;
    demo.check(
        state(&x) == pb::ExchangeState::Acknowledged,
        "the exchange is acknowledged",
    )?;
    Ok(Played {
        scenario: "(b) s47, approved in part",
        exchange_id: b_id,
        state: name::<pb::ExchangeState>(x.state),
    })
}
