//! How long the check takes. Run with
//! `cargo bench -p accord-policy --bench assess -- --warm-up-time 1 --measurement-time 3`;
//! results are recorded in `docs/benchmarks.md` ("Policy check").
//!
//! - `assess/typical`: the fixture's s47 request (4 categories, one special) on the fixture
//!   protocol (5 purposes, 20 categories, 7 signatories), with 5 unrelated earlier exchanges.
//! - `assess/15-categories-20-purposes`: 15 categories (13 allowed, one outside the purpose,
//!   one unknown) on a protocol with 20 purposes and 30 categories, against 50 earlier
//!   exchanges of which one is a repeat.

use std::hint::black_box;

use accord_domain::{ExchangeState, History, Request};
use accord_policy::assess;
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use fixture::*;

fn fifteen_categories() -> Request {
    let mut r = s47_request();
    r.purpose = id("local-purpose-05");
    let mut categories = Vec::new();
    // local-purpose-05 allows categories 5..=22 of the large protocol (see large_protocol).
    let p = large_protocol();
    for c in &p.categories[5..18] {
        categories.push(category(
            c.id.as_str(),
            "Needed to understand the risk at home",
        ));
    }
    categories.push(category(
        p.categories[2].id.as_str(),
        "Not allowed for this purpose",
    ));
    categories.push(category("bank-details", "Not a category of this protocol"));
    r.categories = categories;
    r
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("assess");

    let protocol = protocol();
    let typical = s47_request();
    let history = unrelated_history(5);
    group.bench_function("typical", |b| {
        b.iter(|| {
            assess(
                black_box(&protocol),
                black_box(&typical),
                black_box(&history),
                black_box(NOW),
            )
        })
    });

    let large = large_protocol();
    let request = fifteen_categories();
    let mut history: History = unrelated_history(49);
    let mut repeat = prior(
        1,
        TRUST,
        POLICE,
        "local-purpose-05",
        ExchangeState::Acknowledged,
        12,
    );
    // Two of the categories sought again, so the repeat is a warning naming them.
    repeat.categories = request.categories[..2]
        .iter()
        .map(|c| c.category.clone())
        .collect();
    history.prior.push(repeat);
    let check = assess(&large, &request, &history, NOW);
    assert_eq!(check.proposed_scope.len(), 13, "{:?}", check.findings);
    assert_eq!(check.trimmed.len(), 2);
    group.bench_function("15-categories-20-purposes", |b| {
        b.iter(|| {
            assess(
                black_box(&large),
                black_box(&request),
                black_box(&history),
                black_box(NOW),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
