//! `ListPending` end to end: the holding agency's queue oldest deadline first, in pages that
//! resume from their token, without the exchanges that await someone else.

use accord_domain::Role;
use accord_tests::*;
use anyhow::Result;
use pb::decide_request::Decision as D;
use tonic::Code;

backend_tests!(pending_queue_pages_by_deadline_and_skips_what_awaits_others);

/// Every page of `c`'s queue with `page_size`, as the ids on each page.
async fn pages(
    c: &mut Clients,
    page_size: u32,
    include_escalated: bool,
) -> Result<Vec<Vec<String>>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let r = c
            .approvals
            .list_pending(pb::ListPendingRequest {
                page: Some(pb::PageRequest {
                    page_size,
                    page_token: token.clone(),
                }),
                include_escalated,
            })
            .await?
            .into_inner();
        pages.push(r.exchanges.into_iter().map(|x| x.id).collect());
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return Ok(pages);
        }
        anyhow::ensure!(pages.len() < 20, "the token never ends: {pages:?}");
    }
}

async fn pending_queue_pages_by_deadline_and_skips_what_awaits_others(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    // Five requests a minute apart: their deadlines are in submission order.
    let practitioner = pc.subject.clone();
    let mut ids = Vec::new();
    for i in 0..5 {
        let child = format!("pending-child-{i}");
        let s = pc
            .exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(s47_request(POLICE, TRUST, &practitioner, &child, &child)),
            })
            .await?
            .into_inner();
        ids.push((s.exchange_id, s.version));
        app.clock.advance(time::Duration::minutes(1));
    }
    // The second is escalated to the Caldicott Guardian: it awaits them, not IG leads.
    let mut first = app.clients_as(TRUST, "ig-first", &[Role::IgLead]).await?;
    first
        .approvals
        .decide(pb::DecideRequest {
            exchange_id: ids[1].0.clone(),
            expected_version: ids[1].1,
            decision: Some(D::Escalate(pb::Escalate {
                reason: "Needs the Caldicott Guardian".into(),
                to_role: pb::Role::CaldicottGuardian as i32,
            })),
            note: String::new(),
        })
        .await?;
    let id = |i: usize| ids[i].0.clone();

    let mut second = app.clients_as(TRUST, "ig-second", &[Role::IgLead]).await?;
    assert_eq!(
        pages(&mut second, 2, true).await?,
        [vec![id(0), id(2)], vec![id(3), id(4)]]
    );
    assert_eq!(
        pages(&mut second, 0, false).await?,
        [vec![id(0), id(2), id(3), id(4)]]
    );
    let mut guardian = app
        .clients_as(TRUST, "cg-1", &[Role::CaldicottGuardian])
        .await?;
    assert_eq!(
        pages(&mut guardian, 3, true).await?,
        [vec![id(0), id(1), id(2)], vec![id(3), id(4)]]
    );
    // The requesting agency has nothing to decide.
    let mut police_ig = app.clients(POLICE, Role::IgLead).await?;
    assert_eq!(
        pages(&mut police_ig, 0, true).await?,
        [Vec::<String>::new()]
    );

    let e = expect_err(
        second
            .approvals
            .list_pending(pb::ListPendingRequest {
                page: Some(pb::PageRequest {
                    page_size: 2,
                    page_token: "not-a-token".into(),
                }),
                include_escalated: true,
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&e), ["page.page_token"]);
    app.stop().await
}
