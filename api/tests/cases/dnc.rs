//! Cases for the do-not-call list and concurrent writers (nothing lost, one row per key).

use std::collections::BTreeSet;
use std::sync::Arc;

use agent5_api::model::{AuditEntry, AuditQuery, DncEntry, DncSource, Scope};
use agent5_api::store::SharedStore;

use super::{customer, delivery, dnc, query};

pub async fn dnc_many_at_once_and_flags(store: SharedStore) {
    store
        .upsert_customers(vec![customer("Reachable", "+3221999001", "nl", &[])])
        .await
        .expect("upsert");
    let phones: Vec<String> = (0..1000).map(|i| format!("+3247{i:07}")).collect();
    let entries: Vec<DncEntry> = phones.iter().map(|p| dnc(p)).collect();
    assert_eq!(store.add_dnc(entries.clone()).await.expect("add"), 1000);
    assert_eq!(
        store.add_dnc(entries).await.expect("add again"),
        0,
        "existing entries kept"
    );
    let probe = vec![
        "+32470000005".to_owned(),
        "+3221999001".to_owned(),
        "+32470000999".to_owned(),
        "+32470000005".to_owned(),
    ];
    assert_eq!(
        store.dnc_lookup(&probe).await.expect("lookup"),
        vec!["+32470000005".to_owned(), "+32470000999".to_owned()]
    );
    let page = store
        .list_dnc(Some("+3247000001"), 0, 4)
        .await
        .expect("list");
    let got: Vec<&str> = page.items.iter().map(|e| e.phone_e164.as_str()).collect();
    assert_eq!(
        got,
        vec![
            "+32470000010",
            "+32470000011",
            "+32470000012",
            "+32470000013"
        ]
    );
    assert!(page.has_more);
    assert_eq!(page.items[0].source, DncSource::Ui);
    let tail = store
        .list_dnc(Some("+3247000001"), 8, 4)
        .await
        .expect("list");
    assert_eq!(tail.items.len(), 2);
    assert!(!tail.has_more);
    assert_eq!(store.remove_dnc(&phones[..10]).await.expect("remove"), 10);
    assert_eq!(
        store.remove_dnc(&phones[..10]).await.expect("remove again"),
        0
    );
    assert!(store
        .dnc_lookup(&phones[..10])
        .await
        .expect("lookup")
        .is_empty());

    // The list's opt_out follows DNC changes made after the customer was stored.
    let flag = |store: SharedStore| async move {
        store
            .list_prospects(&query(Scope::Invoice))
            .await
            .expect("list")
            .items[0]
            .opt_out
    };
    assert!(!flag(Arc::clone(&store)).await);
    store
        .add_dnc(vec![dnc("+3221999001")])
        .await
        .expect("opt out");
    assert!(flag(Arc::clone(&store)).await);
    store
        .remove_dnc(&["+3221999001".to_owned()])
        .await
        .expect("opt in");
    assert!(!flag(Arc::clone(&store)).await);
}

pub async fn concurrent_upserts_of_one_key(store: SharedStore) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut c = customer("Same Customer", "+3221555555", "nl", &[]);
                c.deliveries = vec![delivery(
                    &format!("delivery_{i}"),
                    "Site",
                    &format!("+3247555550{i}"),
                    "nl",
                    &[],
                )];
                store.upsert_customers(vec![c]).await.expect("upsert")
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let res = t.await.expect("join");
        ids.insert(res[0].id.clone());
        created += usize::from(res[0].created);
    }
    assert_eq!(ids.len(), 1, "one customer, no duplicate");
    assert_eq!(created, 1);
    assert_eq!(store.count_customers().await.expect("count"), 1);
    let c = store
        .get_customer(ids.iter().next().expect("id"))
        .await
        .expect("get");
    assert_eq!(
        c.delivery_addresses.len(),
        8,
        "no lost update: every task's delivery is there"
    );
}

pub async fn concurrent_appends_lose_nothing(store: SharedStore) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..25 {
                    store
                        .append_audit(AuditEntry::system(
                            &format!("task-{t}"),
                            "test",
                            &format!("{t}-{i}"),
                            String::new(),
                        ))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    let page = |limit: u64| AuditQuery {
        limit,
        ..AuditQuery::default()
    };
    let entries = store.list_audit(&page(1000)).await.expect("list").items;
    assert_eq!(entries.len(), 200);
    let targets: BTreeSet<String> = entries.iter().map(|e| e.target.clone()).collect();
    assert_eq!(targets.len(), 200);
    assert!(
        entries.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first"
    );
    assert_eq!(
        store.list_audit(&page(3)).await.expect("list").items.len(),
        3
    );
}
