//! The dashboard's tabs count a connector's intros up to a cap, so a page
//! costs the same with a million intros as with a thousand.

use sqlx::Connection;

use super::helpers::*;

/// `n` closed intros of `status` for the app's connector, written straight
/// into its database (no parties: only the counts read them).
async fn insert_closed_intros(app: &TestApp, prefix: &str, status: &str, n: usize) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.settings.database_url)
        .await
        .expect("connect to the test database");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < {n})
         insert into intros (intro_id, connector_id, mode, status, reason, topic, created_at, updated_at)
         select '{prefix}' || i, $1, 'parallel', '{status}', 'Seeded.', 'Seeded', 1, 1 from n"
    )))
    .bind(&app.connector.id)
    .execute(&mut conn)
    .await
    .expect("insert the intros");
}

#[tokio::test]
async fn tab_counts_stop_at_a_thousand_and_say_so() {
    let app = spawn_app().await;
    app.propose(&intro_body("parallel")).await;
    insert_closed_intros(&app, "expired-", "expired", 1_001).await;
    insert_closed_intros(&app, "declined-", "declined", 1_000).await;
    let session = app.sign_in().await;

    let home = session.page("/").await;

    assert!(home.contains("Expired (1,000+)"), "{home}");
    assert!(home.contains("Declined (1,000)"), "{home}");
    assert!(home.contains("Asking (1)"), "{home}");
    assert!(home.contains("All (1,000+)"), "{home}");
}
