//! Cases for customers, their contacts and deliveries, and field definitions.

use agent5_api::model::{
    AttachError, Attached, Contact, FieldDef, NewCustomer, NewDelivery, ParentKey, Scope, Upserted,
};
use agent5_api::store::{SharedStore, StoreError};

use super::{customer, delivery, query};

pub async fn ping_and_backend(store: SharedStore) {
    store.ping().await.expect("ping");
    assert!(["sqlite", "mongo"].contains(&store.backend()));
}

/// Acme (with a delivery) and Beta, upserted; their outcomes.
async fn acme_and_beta(store: &SharedStore) -> (NewCustomer, Vec<Upserted>) {
    let mut acme = customer("Acme", "+3221234567", "nl", &["VIP"]);
    acme.deliveries = vec![delivery("delivery_1", "Depot", "+32475000001", "fr", &[])];
    let first = store
        .upsert_customers(vec![
            acme.clone(),
            customer("Beta", "+3221234568", "fr", &[]),
        ])
        .await
        .expect("upsert");
    (acme, first)
}

pub async fn an_upsert_creates_once_and_the_same_row_again_changes_nothing(store: SharedStore) {
    let (acme, first) = acme_and_beta(&store).await;
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
}

pub async fn a_customer_reads_back_with_its_tags_and_deliveries(store: SharedStore) {
    let (_, first) = acme_and_beta(&store).await;
    let got = store.get_customer(&first[0].id).await.expect("get");
    assert_eq!(got.invoice.name, "Acme");
    assert_eq!(got.tags, vec!["vip"]);
    assert_eq!(got.delivery_addresses.len(), 1);
    assert_eq!(
        got.delivery_addresses[0].contact.phone.as_deref(),
        Some("+32475000001")
    );
    assert_eq!(store.get_customer("nope").await, Err(StoreError::NotFound));
}

pub async fn a_replace_needs_the_version_it_read_and_a_key_of_its_own(store: SharedStore) {
    let (_, first) = acme_and_beta(&store).await;
    let got = store.get_customer(&first[0].id).await.expect("get");
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
}

pub async fn an_archived_customer_leaves_the_list(store: SharedStore) {
    let (_, first) = acme_and_beta(&store).await;
    let got = store.get_customer(&first[0].id).await.expect("get");
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
        kind: agent5_api::model::FieldKind::String,
        required: false,
        options: Vec::new(),
        regex: None,
        default: None,
        visibility: agent5_api::model::Visibility::Both,
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

/// Deliveries attach to the parent their keys name (phone or mobile, then email
/// case-insensitively); ambiguity and absence are per-item outcomes; a dry run writes
/// nothing; customers page by id; delivery codes in use are listed.
/// Acme, Bolt and Cargo (Bolt and Cargo share an email); their ids.
async fn three_customers(store: &SharedStore) -> Vec<String> {
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
        .map(|u| u.id.into())
        .collect();
    ids
}

pub async fn deliveries_attach_to_the_customer_their_parent_keys_find(store: SharedStore) {
    let ids = three_customers(&store).await;
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
            customer_id: ids[i].clone().into(),
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
}

pub async fn customers_page_in_id_order(store: SharedStore) {
    let ids = three_customers(&store).await;
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
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(paged, sorted);
    assert!(store
        .list_customers(Some(&sorted[2]), 2)
        .await
        .expect("end")
        .is_empty());
}
