//! How long the entitlement engine takes to fold one customer's history into their state,
//! for histories of 1, 10 and 1,000 transactions. Run with `cargo bench -p entitled-core`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use entitled_core::UnixMillis;
use entitled_core::engine::{CatalogView, customer_state};
use entitled_core::purchases::{
    Environment, LifecycleEvent, LifecycleKind, Money, Ownership, PeriodType, Store,
    StoreTransaction,
};

const DAY: i64 = 86_400_000;
const START: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z

fn catalog() -> CatalogView {
    CatalogView {
        entitlements_by_product: HashMap::from([
            ("pro_monthly".to_string(), vec!["pro".to_string()]),
            ("pro_yearly".to_string(), vec!["pro".to_string()]),
            ("team_monthly".to_string(), vec!["team".to_string()]),
            ("coins_100".to_string(), vec![]),
        ]),
        lookup_keys: HashMap::new(),
    }
}

/// A history of `count` transactions: three subscription chains renewing monthly (one
/// upgraded to yearly, one cancelled) and every tenth purchase a consumable.
fn history(count: usize) -> (Vec<StoreTransaction>, Vec<LifecycleEvent>) {
    let transactions = (0..count)
        .map(|i| {
            let bought = START + i as i64 * DAY;
            let consumable = i % 10 == 9;
            let chain = i % 3;
            let product = match (consumable, chain) {
                (true, _) => "coins_100",
                (false, 0) if i > count / 2 => "pro_yearly",
                (false, 0) => "pro_monthly",
                (false, _) => "team_monthly",
            };
            StoreTransaction {
                id: format!("txn{i}"),
                customer_key: "cust".into(),
                app_id: "app".into(),
                store: Store::TestStore,
                store_transaction_id: format!("st{i}"),
                original_transaction_id: if consumable {
                    format!("st{i}")
                } else {
                    format!("chain{chain}")
                },
                product_id: product.into(),
                product_plan_id: None,
                purchased_at: UnixMillis(bought),
                expires_at: (!consumable).then_some(UnixMillis(bought + 30 * DAY)),
                period_type: PeriodType::Normal,
                environment: Environment::Production,
                ownership: Ownership::Purchased,
                price: Some(Money {
                    amount_micros: 4_990_000,
                    currency: "USD".into(),
                }),
                is_subscription: !consumable,
            }
        })
        .collect();
    let events = vec![LifecycleEvent {
        id: "cancel".into(),
        store: Store::TestStore,
        original_transaction_id: "chain2".into(),
        kind: LifecycleKind::Cancelled,
        occurred_at: UnixMillis(START + count as i64 * DAY / 2),
    }];
    (transactions, events)
}

fn engine(c: &mut Criterion) {
    let catalog = catalog();
    let mut group = c.benchmark_group("customer_state");
    for count in [1usize, 10, 1_000] {
        let (transactions, events) = history(count);
        let now = UnixMillis(START + count as i64 * DAY + DAY);
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, _| {
            b.iter(|| {
                customer_state(
                    black_box(&transactions),
                    black_box(&events),
                    &[],
                    &catalog,
                    now,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
