//! The cases: each takes a store and asserts exact results, so both backends must
//! agree on data, order and error kinds.

mod calls;

pub use calls::*;

use std::collections::BTreeSet;
use std::sync::Arc;

use agent5_api::store::model::{
    now_millis, AttachError, Attached, AuditEntry, Contact, ContactKind, Delivery, DncEntry,
    DncSource, FieldDef, NewCustomer, NewDelivery, ParentKey, ProspectQuery, Scope,
};
use agent5_api::store::{SharedStore, StoreError};

fn contact(name: &str, phone: Option<&str>, lang: &str) -> Contact {
    Contact {
        name: name.into(),
        company: format!("{name} BV"),
        email: format!("{}@example.be", name.to_lowercase().replace(' ', ".")),
        phone: phone.map(str::to_owned),
        language: lang.into(),
        ..Contact::default()
    }
}

fn customer(name: &str, phone: &str, lang: &str, tags: &[&str]) -> NewCustomer {
    NewCustomer {
        invoice: contact(name, Some(phone), lang),
        deliveries: Vec::new(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        custom: serde_json::Map::new(),
    }
}

fn delivery(code: &str, name: &str, phone: &str, lang: &str, tags: &[&str]) -> Delivery {
    Delivery {
        code: code.into(),
        contact: contact(name, Some(phone), lang),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        notes: String::new(),
    }
}

fn dnc(phone: &str) -> DncEntry {
    DncEntry {
        phone_e164: phone.into(),
        reason: "asked".into(),
        source: DncSource::Ui,
        added_by: "tester".into(),
        added_at: now_millis(),
    }
}

fn query(scope: Scope) -> ProspectQuery {
    ProspectQuery {
        scope,
        limit: 100,
        ..ProspectQuery::default()
    }
}

pub async fn ping_and_backend(store: SharedStore) {
    store.ping().await.expect("ping");
    assert!(["sqlite", "mongo"].contains(&store.backend()));
}

pub async fn customer_upsert_get_replace_archive(store: SharedStore) {
    let mut acme = customer("Acme", "+3221234567", "nl", &["VIP"]);
    acme.deliveries = vec![delivery("delivery_1", "Depot", "+32475000001", "fr", &[])];
    let first = store
        .upsert_customers(vec![
            acme.clone(),
            customer("Beta", "+3221234568", "fr", &[]),
        ])
        .await
        .expect("upsert");
    assert!(first.iter().all(|u| u.created && u.changed));
    let again = store
        .upsert_customers(vec![acme.clone()])
        .await
        .expect("upsert again");
    assert_eq!(again[0].id, first[0].id);
    assert!(!again[0].created);
    assert!(
        !again[0].changed,
        "re-upload of the same row changes nothing"
    );
    assert_eq!(store.count_customers().await.expect("count"), 2);

    let got = store.get_customer(&first[0].id).await.expect("get");
    assert_eq!(got.invoice.name, "Acme");
    assert_eq!(got.tags, vec!["vip"]);
    assert_eq!(got.delivery_addresses.len(), 1);
    assert_eq!(
        got.delivery_addresses[0].contact.phone.as_deref(),
        Some("+32475000001")
    );
    assert_eq!(store.get_customer("nope").await, Err(StoreError::NotFound));

    let mut stale = got.clone();
    stale.version -= 1;
    assert_eq!(
        store.replace_customer(stale).await,
        Err(StoreError::Conflict {
            field: "version".into()
        })
    );
    let mut edited = got.clone();
    edited.invoice.email = "billing@acme.be".into();
    let saved = store.replace_customer(edited).await.expect("replace");
    assert_eq!(saved.version, got.version + 1);
    assert_eq!(saved.created_at, got.created_at);
    let reread = store.get_customer(&got.id).await.expect("get");
    assert_eq!(reread, saved);

    let mut onto_beta = reread.clone();
    onto_beta.invoice.phone = Some("+3221234568".into());
    assert_eq!(
        store.replace_customer(onto_beta).await,
        Err(StoreError::Conflict {
            field: "upsert_key".into()
        }),
        "another customer's key"
    );

    let archived = store.set_archived(&got.id, true).await.expect("archive");
    assert!(archived.archived);
    let visible = store
        .list_prospects(&query(Scope::Invoice))
        .await
        .expect("list");
    assert_eq!(
        visible
            .items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Beta"]
    );
    assert_eq!(
        store.set_archived("nope", true).await,
        Err(StoreError::NotFound)
    );
}

pub async fn upsert_without_key_is_invalid(store: SharedStore) {
    let keyless = NewCustomer {
        invoice: Contact {
            name: "No Key".into(),
            ..Contact::default()
        },
        ..NewCustomer::default()
    };
    let res = store
        .upsert_customers(vec![customer("Ok", "+3221111111", "nl", &[]), keyless])
        .await;
    assert!(matches!(res, Err(StoreError::Invalid(_))), "{res:?}");
    assert_eq!(
        store.count_customers().await.expect("count"),
        0,
        "nothing of the batch written"
    );
}

fn def(key: &str, order: i64) -> FieldDef {
    FieldDef {
        id: format!("def-{key}"),
        key: key.into(),
        label: key.to_uppercase(),
        kind: "string".into(),
        required: false,
        options: Vec::new(),
        regex: None,
        default: None,
        visibility: "both".into(),
        order,
    }
}

pub async fn field_defs_crud_and_conflicts(store: SharedStore) {
    store
        .create_field_def(def("region", 2))
        .await
        .expect("create");
    store
        .create_field_def(def("account", 1))
        .await
        .expect("create");
    store
        .create_field_def(def("branch", 1))
        .await
        .expect("create");
    let mut dup = def("region", 9);
    dup.id = "def-other".into();
    assert_eq!(
        store.create_field_def(dup).await,
        Err(StoreError::Conflict {
            field: "key".into()
        })
    );
    let keys: Vec<String> = store
        .list_field_defs()
        .await
        .expect("list")
        .into_iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(keys, vec!["account", "branch", "region"]);
    let mut renamed = def("region", 0);
    renamed.label = "Sales region".into();
    store
        .update_field_def(renamed.clone())
        .await
        .expect("update");
    assert_eq!(store.list_field_defs().await.expect("list")[0], renamed);
    let mut clash = def("account", 0);
    clash.id = "def-region".into();
    assert_eq!(
        store.update_field_def(clash).await,
        Err(StoreError::Conflict {
            field: "key".into()
        })
    );
    assert_eq!(
        store.update_field_def(def("ghost", 0)).await,
        Err(StoreError::NotFound)
    );
    store.delete_field_def("def-branch").await.expect("delete");
    assert_eq!(
        store.delete_field_def("def-branch").await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.list_field_defs().await.expect("list").len(), 2);
}

/// Three customers, four deliveries, one archived, one phone in DNC.
async fn dataset(store: &SharedStore) {
    let mut a = customer("Alpha Office", "+3221000001", "nl", &["vip", "north"]);
    a.invoice.language_confirmed = true;
    a.deliveries = vec![
        delivery("delivery_1", "Alpha Depot", "+32475000011", "nl", &["dock"]),
        delivery(
            "delivery_2",
            "Alpha Shop 100%",
            "+32475000012",
            "fr",
            &["dock", "night"],
        ),
    ];
    let mut b = customer("Bravo.Works", "+3221000002", "fr", &["vip"]);
    b.deliveries = vec![delivery(
        "delivery_1",
        "Bravo Yard",
        "+32475000021",
        "de",
        &["night"],
    )];
    let c = customer("Charlie", "+3221000003", "en", &["north"]);
    let mut archived = customer("Zulu Archived", "+3221000009", "nl", &["vip"]);
    archived.deliveries = vec![delivery(
        "delivery_1",
        "Zulu Dock",
        "+32475000091",
        "nl",
        &["dock"],
    )];
    for batch in [vec![a], vec![b], vec![c], vec![archived]] {
        store.upsert_customers(batch).await.expect("upsert");
    }
    let zulu = store
        .list_prospects(&ProspectQuery {
            text: Some("zulu archived".into()),
            ..query(Scope::Invoice)
        })
        .await
        .expect("find zulu");
    store
        .set_archived(&zulu.items[0].customer_id, true)
        .await
        .expect("archive");
    store
        .add_dnc(vec![dnc("+32475000012"), dnc("+3221000002")])
        .await
        .expect("dnc");
}

fn names(rows: &[agent5_api::store::model::ContactRow]) -> BTreeSet<String> {
    rows.iter().map(|r| r.name.clone()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

pub async fn prospect_list_filters(store: SharedStore) {
    dataset(&store).await;
    let run = |q: ProspectQuery| {
        let store = Arc::clone(&store);
        async move { store.list_prospects(&q).await.expect("list").items }
    };
    assert_eq!(
        names(&run(query(Scope::Invoice)).await),
        set(&["Alpha Office", "Bravo.Works", "Charlie"])
    );
    assert_eq!(
        names(&run(query(Scope::Delivery)).await),
        set(&["Alpha Depot", "Alpha Shop 100%", "Bravo Yard"])
    );
    assert_eq!(run(query(Scope::Both)).await.len(), 6);
    let all = run(ProspectQuery {
        show_archived: true,
        ..query(Scope::Both)
    })
    .await;
    assert_eq!(all.len(), 8);
    assert!(all.iter().filter(|r| r.archived).count() == 2);

    let tags = |t: &[&str]| ProspectQuery {
        tags: t.iter().map(|x| (*x).to_owned()).collect(),
        ..query(Scope::Both)
    };
    assert_eq!(
        names(&run(tags(&["vip"])).await),
        set(&["Alpha Office", "Bravo.Works"])
    );
    assert_eq!(
        names(&run(tags(&["vip", "north"])).await),
        set(&["Alpha Office"]),
        "all tags must match"
    );
    assert_eq!(
        names(&run(tags(&["dock", "night"])).await),
        set(&["Alpha Shop 100%"])
    );
    assert_eq!(names(&run(tags(&["nope"])).await), set(&[]));

    let lang = run(ProspectQuery {
        language: Some("fr".into()),
        ..query(Scope::Both)
    })
    .await;
    assert_eq!(names(&lang), set(&["Bravo.Works", "Alpha Shop 100%"]));
    let confirmed = run(ProspectQuery {
        language_confirmed: Some(true),
        ..query(Scope::Both)
    })
    .await;
    assert_eq!(names(&confirmed), set(&["Alpha Office"]));
    let unconfirmed = run(ProspectQuery {
        language_confirmed: Some(false),
        ..query(Scope::Invoice)
    })
    .await;
    assert_eq!(names(&unconfirmed), set(&["Bravo.Works", "Charlie"]));

    let opted = run(ProspectQuery {
        opt_out: Some(true),
        ..query(Scope::Both)
    })
    .await;
    assert_eq!(names(&opted), set(&["Bravo.Works", "Alpha Shop 100%"]));
    assert!(opted.iter().all(|r| r.opt_out));
    let reachable = run(ProspectQuery {
        opt_out: Some(false),
        ..query(Scope::Both)
    })
    .await;
    assert_eq!(reachable.len(), 4);

    let text = |t: &str| ProspectQuery {
        text: Some(t.into()),
        ..query(Scope::Both)
    };
    assert_eq!(
        names(&run(text("ALPHA")).await),
        set(&["Alpha Office", "Alpha Depot", "Alpha Shop 100%"])
    );
    assert_eq!(
        names(&run(text("100%")).await),
        set(&["Alpha Shop 100%"]),
        "% is literal"
    );
    assert_eq!(
        names(&run(text("o.w")).await),
        set(&["Bravo.Works"]),
        ". is literal"
    );
    assert_eq!(
        names(&run(text("a.*")).await),
        set(&[]),
        "no pattern language"
    );
    assert_eq!(
        names(&run(text("charlie@example")).await),
        set(&["Charlie"]),
        "email matches"
    );
    assert_eq!(
        names(&run(text("+32475000021")).await),
        set(&["Bravo Yard"]),
        "phone text matches"
    );
    let by_phone = run(ProspectQuery {
        phones: vec!["+3221000003".into()],
        ..query(Scope::Both)
    })
    .await;
    assert_eq!(names(&by_phone), set(&["Charlie"]));
    let combined = run(ProspectQuery {
        tags: vec!["dock".into()],
        language: Some("nl".into()),
        opt_out: Some(false),
        ..query(Scope::Delivery)
    })
    .await;
    assert_eq!(names(&combined), set(&["Alpha Depot"]));
    let row = &combined[0];
    assert_eq!(row.kind, ContactKind::Delivery);
    assert_eq!(row.code, "delivery_1");
    assert_eq!(row.tags, vec!["dock"]);
    assert_eq!(row.phone.as_deref(), Some("+32475000011"));
}

pub async fn prospect_list_pagination_is_stable(store: SharedStore) {
    // Many customers written in one batch share `updated_at`: the tie-break decides.
    let batch: Vec<NewCustomer> = (0..23)
        .map(|i| {
            let mut c = customer(
                &format!("Customer {i:02}"),
                &format!("+32210000{i:02}"),
                "nl",
                &[],
            );
            c.deliveries = vec![delivery(
                "delivery_1",
                &format!("Site {i:02}"),
                &format!("+324750001{i:02}"),
                "nl",
                &[],
            )];
            c
        })
        .collect();
    store.upsert_customers(batch).await.expect("upsert");
    let everything = store
        .list_prospects(&ProspectQuery {
            limit: 1000,
            ..query(Scope::Both)
        })
        .await
        .expect("all");
    assert_eq!(everything.items.len(), 46);
    assert!(!everything.has_more);
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list_prospects(&ProspectQuery {
                offset,
                limit: 5,
                ..query(Scope::Both)
            })
            .await
            .expect("page");
        assert!(page.items.len() <= 5);
        paged.extend(page.items);
        offset += 5;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        paged, everything.items,
        "pages concatenate to the unpaged order"
    );
    // Invoice before its deliveries, customers by (updated_at desc, id).
    for pair in everything.items.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            (b.updated_at, &a.customer_id, &a.code) <= (a.updated_at, &b.customer_id, &b.code),
            "order broken between {a:?} and {b:?}"
        );
    }
}

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
                        .append_audit(AuditEntry {
                            at: now_millis(),
                            actor: format!("task-{t}"),
                            action: "test".into(),
                            target: format!("{t}-{i}"),
                            detail: String::new(),
                        })
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    let entries = store.list_audit(1000).await.expect("list");
    assert_eq!(entries.len(), 200);
    let targets: BTreeSet<String> = entries.iter().map(|e| e.target.clone()).collect();
    assert_eq!(targets.len(), 200);
    assert!(
        entries.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first"
    );
    assert_eq!(store.list_audit(3).await.expect("list").len(), 3);
}

pub async fn webhook_events_are_recorded_once(store: SharedStore) {
    assert!(store
        .record_webhook_event("evt-1", "call.initiated", "{}")
        .await
        .expect("first"));
    assert!(!store
        .record_webhook_event("evt-1", "call.initiated", "{}")
        .await
        .expect("dup"));
    assert!(store
        .record_webhook_event("evt-2", "call.hangup", "{}")
        .await
        .expect("other"));
}

pub async fn webhook_dedup_under_concurrent_delivery(store: SharedStore) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_webhook_event("evt-race", "call.answered", "{}")
                    .await
                    .expect("record")
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.expect("join"));
    }
    assert_eq!(firsts, 1, "exactly one delivery is processed");
}

/// Deliveries attach to the parent their keys name (phone or mobile, then email
/// case-insensitively); ambiguity and absence are per-item outcomes; a dry run writes
/// nothing; customers page by id; delivery codes in use are listed.
pub async fn deliveries_attach_and_customer_pages(store: SharedStore) {
    let mut bolt = customer("Bolt", "+3232311234", "nl", &[]);
    bolt.invoice.mobile = Some("+32476112233".into());
    bolt.invoice.email = "Shared@Group.be".into();
    let mut cargo = customer("Cargo", "+3250334455", "fr", &[]);
    cargo.invoice.email = "shared@group.be".into();
    let acme = customer("Acme", "+3225111234", "nl", &[]);
    let ids: Vec<String> = store
        .upsert_customers(vec![acme, bolt, cargo])
        .await
        .expect("seed")
        .into_iter()
        .map(|u| u.id)
        .collect();
    let item = |keys: Vec<ParentKey>, name: &str, phone: &str| NewDelivery {
        parent: keys,
        delivery: delivery("", name, phone, "nl", &["dock"]),
    };
    let batch = vec![
        item(
            vec![ParentKey::Phone("+3225111234".into())],
            "Dock A",
            "+32475000001",
        ),
        item(
            vec![ParentKey::Phone("+32476112233".into())],
            "Bolt Depot",
            "+32475000002",
        ),
        item(
            vec![ParentKey::email("SHARED@group.be")],
            "X",
            "+32475000003",
        ),
        item(
            vec![
                ParentKey::Phone("+3299999999".into()),
                ParentKey::email("nobody@x.be"),
            ],
            "Y",
            "+32475000004",
        ),
        item(
            vec![
                ParentKey::Phone("+3250334455".into()),
                ParentKey::email("shared@group.be"),
            ],
            "Cargo Dock",
            "+32475000005",
        ),
        item(
            vec![ParentKey::Phone("+3225111234".into())],
            "Dock B",
            "+32475000006",
        ),
        item(
            vec![ParentKey::Phone("+3225111234".into())],
            "Dock A",
            "+32475000001",
        ),
    ];
    let dry = store
        .attach_deliveries(batch.clone(), true)
        .await
        .expect("dry run");
    assert!(
        store.delivery_codes().await.expect("codes").is_empty(),
        "dry run wrote"
    );
    let done = store.attach_deliveries(batch, false).await.expect("attach");
    assert_eq!(dry, done, "a dry run reports what the real run does");
    let ok = |i: usize, code: &str, created: bool| {
        Ok(Attached {
            customer_id: ids[i].clone(),
            code: code.into(),
            created,
            changed: created,
        })
    };
    assert_eq!(
        done,
        vec![
            ok(0, "delivery_1", true),
            ok(1, "delivery_1", true),
            Err(AttachError::AmbiguousParent {
                key: "shared@group.be".into(),
                matches: 2
            }),
            Err(AttachError::ParentNotFound),
            ok(2, "delivery_1", true),
            ok(0, "delivery_2", true),
            ok(0, "delivery_1", false),
        ]
    );
    let acme = store.get_customer(&ids[0]).await.expect("acme");
    assert_eq!(acme.delivery_addresses.len(), 2);
    assert_eq!(acme.version, 1, "one write for the whole batch");
    let rows = store
        .list_prospects(&query(Scope::Delivery))
        .await
        .expect("list");
    assert_eq!(rows.items.len(), 4);
    assert_eq!(
        store.delivery_codes().await.expect("codes"),
        vec!["delivery_1".to_owned(), "delivery_2".to_owned()]
    );

    let mut sorted = ids.clone();
    sorted.sort();
    let first = store.list_customers(None, 2).await.expect("page 1");
    let rest = store
        .list_customers(Some(&first[1].id), 2)
        .await
        .expect("page 2");
    let paged: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(paged, sorted);
    assert!(store
        .list_customers(Some(&sorted[2]), 2)
        .await
        .expect("end")
        .is_empty());
}

/// Batches record each new id once (duplicates within the batch and against earlier
/// batches are `false`); recorded events stay pending, oldest first, until processed.
pub async fn webhook_batches_and_pending_events(store: SharedStore) {
    let ev = |id: &str| agent5_api::store::model::NewWebhookEvent {
        event_id: id.into(),
        event_type: "call.answered".into(),
        payload: format!("{{\"id\":\"{id}\"}}"),
    };
    assert!(store
        .record_webhook_event("a", "call.initiated", "{}")
        .await
        .expect("a"));
    let firsts = store
        .record_webhook_events(vec![ev("b"), ev("a"), ev("c"), ev("b")])
        .await
        .expect("batch");
    assert_eq!(firsts, vec![true, false, true, false]);
    let far_future = now_millis() + 60_000;
    let pending = store
        .pending_webhook_events(far_future, 10)
        .await
        .expect("pending");
    let ids: BTreeSet<String> = pending.iter().map(|p| p.event_id.clone()).collect();
    assert_eq!(
        ids,
        ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect()
    );
    let b = pending.iter().find(|p| p.event_id == "b").expect("b");
    assert_eq!(
        (b.event_type.as_str(), b.payload.as_str()),
        ("call.answered", "{\"id\":\"b\"}")
    );
    assert!(pending
        .windows(2)
        .all(|w| w[0].received_at <= w[1].received_at));
    assert!(store
        .pending_webhook_events(0, 10)
        .await
        .expect("none that old")
        .is_empty());
    store
        .mark_webhook_events_processed(vec!["a".into(), "c".into(), "unknown".into()])
        .await
        .expect("mark");
    let left: Vec<String> = store
        .pending_webhook_events(far_future, 10)
        .await
        .expect("pending")
        .into_iter()
        .map(|p| p.event_id)
        .collect();
    assert_eq!(left, vec!["b".to_owned()]);
    assert_eq!(
        store
            .pending_webhook_events(far_future, 0)
            .await
            .expect("limit 0")
            .len(),
        0
    );
}
