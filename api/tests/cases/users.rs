//! Cases for operator accounts: unique email in any case, versioned updates, listing.

use agent5_api::model::{new_id, User};
use agent5_api::store::{SharedStore, StoreError};

fn user(email: &str, role: &str) -> User {
    User {
        id: new_id(),
        email: email.into(),
        display_name: email.split('@').next().unwrap_or_default().into(),
        role: role.into(),
        active: true,
        created_at: 1_000,
        last_login_at: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        version: 0,
    }
}

pub async fn a_users_email_is_unique_in_any_case(store: SharedStore) {
    let ann = store
        .create_user(user("Ann@Example.be", "admin"))
        .await
        .expect("create");
    assert_eq!(
        store.create_user(user("ann@example.BE", "viewer")).await,
        Err(StoreError::Conflict {
            field: "email".into()
        })
    );
    let found = store
        .find_user_by_email(" ANN@example.be ")
        .await
        .expect("find");
    assert_eq!(found, ann);
    assert_eq!(found.email, "Ann@Example.be", "kept as typed");
    assert_eq!(store.get_user(&ann.id).await.expect("get"), ann);
    assert_eq!(
        store.find_user_by_email("bob@example.be").await,
        Err(StoreError::NotFound)
    );
}

pub async fn a_user_update_needs_the_version_it_read(store: SharedStore) {
    let ann = store
        .create_user(user("ann@example.be", "operator"))
        .await
        .expect("create");
    let mut promoted = ann.clone();
    promoted.role = "supervisor".into();
    promoted.last_login_at = Some(2_000);
    let saved = store.update_user(promoted.clone()).await.expect("update");
    assert_eq!(saved.version, ann.version + 1);
    assert_eq!(store.get_user(&ann.id).await.expect("get"), saved);
    assert_eq!(
        store.update_user(promoted).await,
        Err(StoreError::Conflict {
            field: "version".into()
        }),
        "written from a stale read"
    );
    let mut ghost = user("ghost@example.be", "viewer");
    ghost.id = "nope".into();
    assert_eq!(store.update_user(ghost).await, Err(StoreError::NotFound));
    store
        .create_user(user("bob@example.be", "viewer"))
        .await
        .expect("bob");
    let mut clash = saved;
    clash.email = "BOB@example.be".into();
    assert_eq!(
        store.update_user(clash).await,
        Err(StoreError::Conflict {
            field: "email".into()
        }),
        "another user's email"
    );
}

pub async fn users_list_by_email(store: SharedStore) {
    for email in ["carol@example.be", "Ann@example.be", "bob@example.be"] {
        store
            .create_user(user(email, "viewer"))
            .await
            .expect("create");
    }
    let emails: Vec<String> = store
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(
        emails,
        vec!["Ann@example.be", "bob@example.be", "carol@example.be"]
    );
}
