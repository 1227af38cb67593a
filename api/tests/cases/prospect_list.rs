//! Cases for the prospects list: every filter, search and stable paging.

use std::collections::BTreeSet;
use std::sync::Arc;

use agent5_api::model::{ContactKind, NewCustomer, ProspectQuery, Scope, Sort};
use agent5_api::store::SharedStore;

use super::{customer, delivery, dnc, query};

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

fn names(rows: &[agent5_api::model::ContactRow]) -> BTreeSet<String> {
    rows.iter().map(|r| r.name.clone()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

pub async fn the_list_shows_invoice_or_delivery_contacts_and_archived_ones_on_request(
    store: SharedStore,
) {
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
}

pub async fn a_tag_filter_needs_every_tag(store: SharedStore) {
    dataset(&store).await;
    let run = |q: ProspectQuery| {
        let store = Arc::clone(&store);
        async move { store.list_prospects(&q).await.expect("list").items }
    };
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
}

pub async fn language_filters_read_the_language_and_whether_it_was_confirmed(store: SharedStore) {
    dataset(&store).await;
    let run = |q: ProspectQuery| {
        let store = Arc::clone(&store);
        async move { store.list_prospects(&q).await.expect("list").items }
    };
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
}

pub async fn the_opt_out_filter_follows_the_dnc_list(store: SharedStore) {
    dataset(&store).await;
    let run = |q: ProspectQuery| {
        let store = Arc::clone(&store);
        async move { store.list_prospects(&q).await.expect("list").items }
    };
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
}

pub async fn text_search_is_literal_over_names_emails_and_phones(store: SharedStore) {
    dataset(&store).await;
    let run = |q: ProspectQuery| {
        let store = Arc::clone(&store);
        async move { store.list_prospects(&q).await.expect("list").items }
    };
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
}

pub async fn phone_and_combined_filters_narrow_to_one_contact(store: SharedStore) {
    dataset(&store).await;
    let run = |q: ProspectQuery| {
        let store = Arc::clone(&store);
        async move { store.list_prospects(&q).await.expect("list").items }
    };
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

pub async fn the_list_sorts_by_name_or_company_both_ways(store: SharedStore) {
    dataset(&store).await;
    let order = |sort: Sort| {
        let store = Arc::clone(&store);
        async move {
            store
                .list_prospects(&ProspectQuery {
                    sort,
                    ..query(Scope::Both)
                })
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        }
    };
    let by_name = vec![
        "Alpha Depot",
        "Alpha Office",
        "Alpha Shop 100%",
        "Bravo Yard",
        "Bravo.Works",
        "Charlie",
    ];
    assert_eq!(order(Sort::Name).await, by_name);
    let mut reversed = by_name.clone();
    reversed.reverse();
    assert_eq!(order(Sort::NameDesc).await, reversed);
    // Paging walks the same order.
    let second = store
        .list_prospects(&ProspectQuery {
            sort: Sort::Name,
            offset: 2,
            limit: 2,
            ..query(Scope::Both)
        })
        .await
        .expect("page");
    assert_eq!(
        second
            .items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["Alpha Shop 100%", "Bravo Yard"]
    );
    assert!(second.has_more);
    // The dataset's companies carry the contact's name: the same orders.
    assert_eq!(order(Sort::Company).await, by_name);
    assert_eq!(order(Sort::CompanyDesc).await, reversed);
}
