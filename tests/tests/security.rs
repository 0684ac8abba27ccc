//! Who may call what, end to end: transport and token refusals, and every cell of the
//! authorisation matrix through the real services.

use std::sync::Arc;

use accord_domain::Role;
use accord_server::tls;
use accord_tests::*;
use anyhow::{anyhow, bail, Result};
use base64::Engine as _;
use tonic::Code;

backend_tests!(
    no_client_certificate_is_refused,
    certificate_from_another_ca_is_refused,
    one_agencys_certificate_with_anothers_token_is_refused,
    bad_tokens_are_refused,
    every_cell_of_the_authorisation_matrix,
    hidden_and_missing_exchanges_look_the_same,
    health_reports_every_service_serving,
    admin_role_from_a_non_designated_agency_does_not_count,
    auditor_role_from_a_non_designated_agency_does_not_count,
    admin_may_not_change_their_own_agency,
    following_inbox_ends_when_the_token_expires,
);

async fn list_protocols(c: &mut Clients) -> Result<(), tonic::Status> {
    c.registry
        .list_protocols(pb::ListProtocolsRequest {})
        .await
        .map(|_| ())
}

async fn no_client_certificate_is_refused(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let config = tls::client_config(&std::fs::read(&app.pki.ca_cert)?, None)?;
    let outcome = match tls::connect(&app.addr, "localhost", Arc::new(config)).await {
        Ok(channel) => {
            let token = app.token(POLICE, "pc-1", &[Role::Practitioner])?;
            let mut c = Clients::new(POLICE, "pc-1", channel, &token)?;
            list_protocols(&mut c).await.map_err(|s| s.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    assert!(outcome.is_err(), "served without a client certificate");
    app.stop().await
}

async fn certificate_from_another_ca_is_refused(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    // The real police identity, issued by another CA: only the CA differs.
    let identity = format!("spiffe://sandwell-scsp/agency/{POLICE}");
    let foreign = accord_dev::foreign_client(app.dir.path(), &identity)?;
    let config = tls::client_config(
        &std::fs::read(&app.pki.ca_cert)?,
        Some((
            &std::fs::read(&foreign.client_cert)?,
            &std::fs::read(&foreign.client_key)?,
        )),
    )?;
    let outcome = match tls::connect(&app.addr, "localhost", Arc::new(config)).await {
        Ok(channel) => {
            let token = app.token(POLICE, "pc-1", &[Role::Practitioner])?;
            let mut c = Clients::new(POLICE, "pc-1", channel, &token)?;
            list_protocols(&mut c).await.map_err(|s| s.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    assert!(outcome.is_err(), "served a certificate from another CA");
    // Everyone else is still served.
    let mut ok = app.clients(POLICE, Role::Practitioner).await?;
    list_protocols(&mut ok).await?;
    app.stop().await
}

async fn one_agencys_certificate_with_anothers_token_is_refused(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    // The trust's valid token, sent through the police's connection.
    let token = app.token(TRUST, "sw-1", &[Role::Practitioner])?;
    let mut c = Clients::new(POLICE, "sw-1", app.channel(POLICE).await?, &token)?;
    let s = expect_err(list_protocols(&mut c).await)?;
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    // The police's claims signed with the trust's key: the signature does not verify.
    let claims = app.claims(POLICE, "pc-1", &[Role::Practitioner])?;
    let forged = app.sign(TRUST, &claims)?;
    let mut c = Clients::new(POLICE, "pc-1", app.channel(POLICE).await?, &forged)?;
    let s = expect_err(list_protocols(&mut c).await)?;
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    app.stop().await
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn bad_tokens_are_refused(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let channel = app.channel(POLICE).await?;
    let good = app.claims(POLICE, "pc-1", &[Role::Practitioner])?;

    let mut expired = good.clone();
    expired.exp = app.clock.now().unix_timestamp() - 3600;
    expired.nbf = Some(expired.exp - 3600);
    let mut wrong_audience = good.clone();
    wrong_audience.aud = "some-other-service".into();
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(&serde_json::to_vec(&good)?)
    );
    // Key confusion: HS256 "signed" with the agency's public key as the secret.
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(&app.token_public_key(POLICE)?)?,
    )?;
    let cases = [
        ("expired", app.sign(POLICE, &expired)?),
        ("wrong audience", app.sign(POLICE, &wrong_audience)?),
        ("alg none", unsigned),
        ("HS256", hs256),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (what, token) in cases {
        let mut c = Clients::new(POLICE, "pc-1", channel.clone(), &token)?;
        let s = expect_err(list_protocols(&mut c).await)
            .map_err(|e| anyhow!("{what} token accepted: {e}"))?;
        assert_eq!(s.code(), Code::Unauthenticated, "{what}: {s:?}");
    }
    // The same claims, properly signed, are accepted.
    let mut c = Clients::new(POLICE, "pc-1", channel, &app.sign(POLICE, &good)?)?;
    list_protocols(&mut c).await?;
    app.stop().await
}

/// The matrix written out independently of the server's table (as in `docs/security.md`):
/// columns requester / holder / non-party / not about one exchange; letters are roles (P
/// practitioner, I ig_lead, C caldicott_guardian, A auditor, D admin), `-` denied to every
/// role, `404` hidden, `x` not applicable.
const SPEC: &str = "
    SubmitRequest             P    -    -    x
    GetExchange               PIC  PIC  404  x
    ListExchanges             x    x    x    PIC
    WithdrawRequest           P    -    404  x
    AnswerInformationRequest  P    -    404  x
    SubmitResponse            -    P    404  x
    FetchResponse             P    -    404  x
    AcknowledgeResponse       P    -    404  x
    EscalateDecline           P    -    404  x
    WatchInbox                x    x    x    PIC
    ListPending               x    x    x    IC
    Decide                    -    IC   404  x
    QueryAudit                x    x    x    A
    VerifyAudit               x    x    x    A
    ExportAudit               x    x    x    A
    GetStatistics             x    x    x    A
    ListProtocols             x    x    x    PICAD
    GetProtocol               x    x    x    PICAD
    ListSignatories           x    x    x    PICAD
    SuspendSignatory          x    x    x    D
    ReinstateSignatory        x    x    x    D
    ReaffirmSignatory         x    x    x    D
";

fn letter(role: Role) -> char {
    match role {
        Role::Practitioner => 'P',
        Role::IgLead => 'I',
        Role::CaldicottGuardian => 'C',
        Role::Auditor => 'A',
        Role::Admin => 'D',
    }
}

/// Makes the call for `op` as `c`, about `exchange` where it names one. Inputs are chosen so
/// that an allowed call changes nothing: it is refused by validation or by the exchange's
/// state, or only reads.
async fn call(
    op: &str,
    c: &mut Clients,
    exchange: &str,
    requesting: &str,
    holding: &str,
) -> Result<Code> {
    let id = exchange.to_owned();
    let code = match op {
        "SubmitRequest" => code_of(
            &c.exchanges
                .submit_request(pb::SubmitRequestRequest {
                    request: Some(pb::InformationRequest {
                        requesting_agency_id: requesting.into(),
                        holding_agency_id: holding.into(),
                        ..Default::default()
                    }),
                })
                .await,
        ),
        "GetExchange" => code_of(
            &c.exchanges
                .get_exchange(pb::GetExchangeRequest { exchange_id: id })
                .await,
        ),
        "ListExchanges" => code_of(
            &c.exchanges
                .list_exchanges(pb::ListExchangesRequest::default())
                .await,
        ),
        "WithdrawRequest" => code_of(
            &c.exchanges
                .withdraw_request(pb::WithdrawRequestRequest {
                    exchange_id: id,
                    reason: String::new(),
                    expected_version: 0,
                })
                .await,
        ),
        "AnswerInformationRequest" => code_of(
            &c.exchanges
                .answer_information_request(pb::AnswerInformationRequestRequest {
                    exchange_id: id,
                    ..Default::default()
                })
                .await,
        ),
        "SubmitResponse" => code_of(
            &c.exchanges
                .submit_response(pb::SubmitResponseRequest {
                    exchange_id: id,
                    expected_version: 0,
                    items: Vec::new(),
                })
                .await,
        ),
        "FetchResponse" => code_of(
            &c.exchanges
                .fetch_response(pb::FetchResponseRequest { exchange_id: id })
                .await,
        ),
        "AcknowledgeResponse" => code_of(
            &c.exchanges
                .acknowledge_response(pb::AcknowledgeResponseRequest {
                    exchange_id: id,
                    note: "x".repeat(2001),
                    expected_version: 0,
                })
                .await,
        ),
        "EscalateDecline" => code_of(
            &c.exchanges
                .escalate_decline(pb::EscalateDeclineRequest {
                    exchange_id: id,
                    reason: String::new(),
                    expected_version: 0,
                })
                .await,
        ),
        "WatchInbox" => match read_inbox(c, "").await {
            Ok(_) => Code::Ok,
            Err(e) => match e.downcast_ref::<tonic::Status>() {
                Some(s) => s.code(),
                None => return Err(e),
            },
        },
        "ListPending" => code_of(
            &c.approvals
                .list_pending(pb::ListPendingRequest::default())
                .await,
        ),
        "Decide" => code_of(
            &c.approvals
                .decide(pb::DecideRequest {
                    exchange_id: id,
                    ..Default::default()
                })
                .await,
        ),
        "QueryAudit" => code_of(&c.audit.query_audit(pb::QueryAuditRequest::default()).await),
        "VerifyAudit" => code_of(
            &c.audit
                .verify_audit(pb::VerifyAuditRequest::default())
                .await,
        ),
        "ExportAudit" => match c
            .audit
            .export_audit(pb::ExportAuditRequest::default())
            .await
        {
            Ok(r) => {
                let mut s = r.into_inner();
                let mut code = Code::Ok;
                loop {
                    match s.message().await {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            code = e.code();
                            break;
                        }
                    }
                }
                code
            }
            Err(s) => s.code(),
        },
        "GetStatistics" => code_of(
            &c.audit
                .get_statistics(pb::GetStatisticsRequest::default())
                .await,
        ),
        "ListProtocols" => code_of(&c.registry.list_protocols(pb::ListProtocolsRequest {}).await),
        "GetProtocol" => code_of(
            &c.registry
                .get_protocol(pb::GetProtocolRequest {
                    protocol_id: SANDWELL.into(),
                })
                .await,
        ),
        "ListSignatories" => code_of(
            &c.registry
                .list_signatories(pb::ListSignatoriesRequest {
                    protocol_id: SANDWELL.into(),
                })
                .await,
        ),
        "SuspendSignatory" => code_of(
            &c.registry
                .suspend_signatory(pb::SuspendSignatoryRequest {
                    protocol_id: SANDWELL.into(),
                    agency_id: TRUST.into(),
                    reason: String::new(),
                })
                .await,
        ),
        "ReinstateSignatory" => code_of(
            &c.registry
                .reinstate_signatory(pb::ReinstateSignatoryRequest {
                    protocol_id: SANDWELL.into(),
                    agency_id: TRUST.into(),
                    reason: String::new(),
                })
                .await,
        ),
        "ReaffirmSignatory" => code_of(
            &c.registry
                .reaffirm_signatory(pb::ReaffirmSignatoryRequest {
                    protocol_id: SANDWELL.into(),
                    agency_id: TRUST.into(),
                    affirmed_on: "not a date".into(),
                })
                .await,
        ),
        other => bail!("no call for {other}"),
    };
    Ok(code)
}

async fn every_cell_of_the_authorisation_matrix(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    // One exchange from the police to the trust, awaiting approval; the council is on
    // neither side.
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let submitted = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(s47_request(
                POLICE,
                TRUST,
                &pc.subject,
                "matrix-child",
                "k-1",
            )),
        })
        .await?
        .into_inner();
    assert_eq!(submitted.state, pb::ExchangeState::AwaitingApproval as i32);
    let exchange = submitted.exchange_id;

    let mut clients = Vec::new();
    for agency in [POLICE, TRUST, COUNCIL] {
        for role in Role::ALL {
            clients.push((agency, *role, app.clients(agency, *role).await?));
        }
    }
    // Calls not about one exchange are made from the partnership's lead agency: only its
    // admin and auditor roles count (other agencies' are checked below).
    let relations = [
        (Relation::Requester, POLICE),
        (Relation::Holder, TRUST),
        (Relation::NonParty, COUNCIL),
        (Relation::NotApplicable, LEAD),
    ];
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in SPEC.lines().map(str::split_whitespace) {
        let cols: Vec<&str> = line.collect();
        let Some((op, cells)) = cols.split_first() else {
            continue;
        };
        for ((relation, agency), cell) in relations.iter().zip(cells) {
            if *cell == "x" {
                continue;
            }
            for (a, role, c) in clients.iter_mut() {
                if a != agency {
                    continue;
                }
                let got = call(op, c, &exchange, POLICE, TRUST).await?;
                let denied = matches!(
                    got,
                    Code::PermissionDenied | Code::NotFound | Code::Unauthenticated
                );
                let ok = match *cell {
                    "404" => got == Code::NotFound,
                    "-" => got == Code::PermissionDenied,
                    letters if letters.contains(letter(*role)) => !denied,
                    _ => got == Code::PermissionDenied,
                };
                if !ok {
                    failures.push(format!(
                        "{op} {relation:?} {role}: expected {cell}, got {got:?}"
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // 9 RPCs about one exchange × 3 relations + 13 others, each for 5 roles.
    assert_eq!(checked, (9 * 3 + 13) * 5);

    // Nothing the matrix allowed changed the exchange.
    let x = pc
        .exchanges
        .get_exchange(pb::GetExchangeRequest {
            exchange_id: exchange.clone(),
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange"))?;
    assert_eq!(x.version, submitted.version);
    assert_eq!(x.state, pb::ExchangeState::AwaitingApproval as i32);
    app.stop().await
}

async fn hidden_and_missing_exchanges_look_the_same(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let id = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(s47_request(POLICE, TRUST, &pc.subject, "c", "k")),
        })
        .await?
        .into_inner()
        .exchange_id;
    let mut other = app.clients(COUNCIL, Role::Practitioner).await?;
    let hidden = expect_err(
        other
            .exchanges
            .get_exchange(pb::GetExchangeRequest {
                exchange_id: id.clone(),
            })
            .await,
    )?;
    // A missing id differs from the hidden one only in the id itself.
    let missing_id = uuid::Uuid::now_v7().to_string();
    let missing = expect_err(
        other
            .exchanges
            .get_exchange(pb::GetExchangeRequest {
                exchange_id: missing_id.clone(),
            })
            .await,
    )?;
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        hidden.message().replace(&id, "ID"),
        missing.message().replace(&missing_id, "ID")
    );
    // Lists are scoped to the caller's agency.
    let listed = other
        .exchanges
        .list_exchanges(pb::ListExchangesRequest::default())
        .await?
        .into_inner();
    assert!(listed.exchanges.is_empty());
    app.stop().await
}

async fn health_reports_every_service_serving(backend: Backend) -> Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let app = spawn_app(backend).await?;
    let mut health = HealthClient::new(app.connect(POLICE).await?);
    for service in accord_server::ACCORD_SERVICES.iter().chain(&[""]) {
        let status = health
            .check(HealthCheckRequest {
                service: (*service).to_owned(),
            })
            .await?
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }
    assert_eq!(accord_server::ACCORD_SERVICES.len(), 5);
    app.stop().await
}

async fn admin_role_from_a_non_designated_agency_does_not_count(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    // The police's identity provider may mint "admin", but the police are not designated in
    // [auth] admin_agencies: the role is ignored.
    let mut police_admin = app.clients(POLICE, Role::Admin).await?;
    let e = expect_err(
        police_admin
            .registry
            .suspend_signatory(pb::SuspendSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: TRUST.into(),
                reason: "Suspended by another member's admin".into(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("[auth] admin_agencies")
            && e.message()
                .contains(&format!("agency {POLICE} is designated")),
        "{}",
        e.message()
    );
    // Not even together with the other roles, and not for the reads open to any role.
    let mut mixed = app
        .clients_as(POLICE, "police-mixed", &[Role::Admin, Role::Practitioner])
        .await?;
    let e = expect_err(
        mixed
            .registry
            .reinstate_signatory(pb::ReinstateSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: TRUST.into(),
                reason: "Reinstated".into(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = expect_err(list_protocols(&mut police_admin).await)?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // The trust is untouched.
    let listed = mixed
        .registry
        .list_signatories(pb::ListSignatoriesRequest {
            protocol_id: SANDWELL.into(),
        })
        .await?
        .into_inner();
    let trust = listed
        .signatories
        .iter()
        .find(|s| s.agency_id == TRUST)
        .ok_or_else(|| anyhow!("no trust"))?;
    assert_eq!(trust.status, pb::SignatoryStatus::Active as i32);
    app.stop().await
}

async fn auditor_role_from_a_non_designated_agency_does_not_count(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    for agency in [POLICE, TRUST] {
        let mut auditor = app.clients(agency, Role::Auditor).await?;
        let e = expect_err(
            auditor
                .audit
                .query_audit(pb::QueryAuditRequest::default())
                .await,
        )?;
        assert_eq!(e.code(), Code::PermissionDenied, "{agency}: {e:?}");
        assert!(
            e.message().contains("[auth] auditor_agencies"),
            "{}",
            e.message()
        );
    }
    // The designated agency's auditor may.
    let mut lead = app.clients(LEAD, Role::Auditor).await?;
    lead.audit
        .query_audit(pb::QueryAuditRequest::default())
        .await?;
    app.stop().await
}

async fn admin_may_not_change_their_own_agency(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut admin = app.clients(LEAD, Role::Admin).await?;
    let e = expect_err(
        admin
            .registry
            .suspend_signatory(pb::SuspendSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: LEAD.into(),
                reason: "Suspending ourselves".into(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(
        e.message()
            .contains("may not suspend their own agency (sandwell-council)"),
        "{}",
        e.message()
    );
    let e = expect_err(
        admin
            .registry
            .reinstate_signatory(pb::ReinstateSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: LEAD.into(),
                reason: "Reinstating ourselves".into(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = expect_err(
        admin
            .registry
            .reaffirm_signatory(pb::ReaffirmSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: LEAD.into(),
                affirmed_on: app.clock.now().date().to_string(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Nothing was recorded or changed; another agency can still be re-affirmed.
    admin
        .registry
        .reaffirm_signatory(pb::ReaffirmSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: TRUST.into(),
            affirmed_on: app.clock.now().date().to_string(),
        })
        .await?;
    app.stop().await
}

async fn following_inbox_ends_when_the_token_expires(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut claims = app.claims(TRUST, "short-lived", &[Role::IgLead])?;
    claims.exp = app.clock.now().unix_timestamp() + 60;
    let token = app.sign(TRUST, &claims)?;
    let mut trust = Clients::new(TRUST, "short-lived", app.channel(TRUST).await?, &token)?;
    let mut stream = trust
        .inbox
        .watch_inbox(pb::WatchInboxRequest {
            after_cursor: String::new(),
            follow: true,
        })
        .await?
        .into_inner();
    // Still valid: an event arrives.
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    pc.exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(s47_request(
                POLICE,
                TRUST,
                &pc.subject,
                "exp-child",
                "exp-1",
            )),
        })
        .await?;
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .map_err(|_| anyhow!("no event within 10 s"))??;
    assert!(first.is_some_and(|m| m.event.is_some()));
    // Past exp and the 30 s leeway: the stream ends within a poll interval.
    app.clock.advance(time::Duration::seconds(91));
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    })
    .await
    .map_err(|_| anyhow!("the stream outlived its token"))?
    .ok_or_else(|| anyhow!("the stream ended without an error"))?;
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert_eq!(
        ended.message(),
        "the token expired; reconnect with a new token"
    );
    app.stop().await
}
