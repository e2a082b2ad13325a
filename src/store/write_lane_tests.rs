//! The write lane's undo paths, on an in-memory SQLite database: a use case
//! that fails after others in its batch (refused, or on a constraint)
//! undoes only its own writes (every savepoint is named `s`), and one that
//! leaves while its savepoint may or may not exist abandons the batch
//! rather than guess.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Connection as _, Executor as _, Row as _};

use super::write_lane::WriteLane;

async fn lane() -> Arc<WriteLane> {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect("sqlite::memory:")
        .await
        .expect("an in-memory database");
    conn.execute("create table t (x integer not null)")
        .await
        .expect("a table");
    WriteLane::new(conn, None)
}

async fn rows(lane: &Arc<WriteLane>) -> Vec<i64> {
    let mut tx = lane.begin().await.expect("a reader's turn");
    let rows = sqlx::query("select x from t order by x")
        .fetch_all(&mut *tx)
        .await
        .expect("rows");
    tx.commit().await.expect("nothing to commit");
    rows.iter().map(|r| r.get::<i64, _>(0)).collect()
}

/// A first use case writes 1 and commits; it hands the lane to `second`
/// (already queued), so both are in one batch; returns the first's outcome.
async fn batch_of_two<F>(
    lane: &Arc<WriteLane>,
    second: impl FnOnce(Arc<WriteLane>) -> F,
) -> Result<(), super::StoreError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut first = lane.begin().await.expect("the first begins");
    sqlx::query("insert into t values (1)")
        .execute(&mut *first)
        .await
        .expect("the first writes");
    let queued = tokio::spawn(second(lane.clone()));
    // The second is queued for the lane before the first commits, so the
    // first hands the lane on instead of committing.
    while !queued.is_finished() && lane.waiting() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let outcome = first.commit().await;
    queued.await.expect("the second ran");
    outcome
}

/// A use case that opens its savepoint with `sql`, then leaves without
/// committing (refused, or failed); the outcome of `sql`.
async fn runs_then_leaves(lane: Arc<WriteLane>, sql: &str) -> super::StoreResult<()> {
    let (mut tx, opening) = lane
        .begin_opened_by_caller()
        .await
        .expect("the second begins");
    let sql = format!("{}{sql}", opening.unwrap_or_default());
    let outcome = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .map(|_| ())
        .map_err(super::StoreError::from);
    tx.opened_by(&outcome);
    drop(tx);
    outcome
}

#[tokio::test]
async fn a_failed_use_case_undoes_only_its_own_writes_in_a_shared_batch() {
    let lane = lane().await;
    let first = batch_of_two(&lane, |lane| async move {
        let wrote = runs_then_leaves(lane, "insert into t values (2)").await;
        assert!(wrote.is_ok(), "{wrote:?}");
    })
    .await;
    assert!(first.is_ok(), "{first:?}");
    assert_eq!(rows(&lane).await, vec![1], "the first's write stays");
}

#[tokio::test]
async fn a_constraint_failure_in_the_first_statement_undoes_only_that_use_case() {
    let lane = lane().await;
    let first = batch_of_two(&lane, |lane| async move {
        // Its savepoint and first insert run; the second insert breaks the
        // table's `not null`, which `savepoint s` itself could not have.
        let wrote = runs_then_leaves(
            lane,
            "insert into t values (2); insert into t values (null)",
        )
        .await;
        assert!(wrote.is_err(), "the null is refused");
    })
    .await;
    assert!(first.is_ok(), "{first:?}");
    assert_eq!(rows(&lane).await, vec![1], "the second's 2 is undone");
}

#[tokio::test]
async fn a_use_case_gone_before_its_savepoint_is_known_abandons_the_batch() {
    let lane = lane().await;
    let first = batch_of_two(&lane, |lane| async move {
        let (tx, _opening) = lane
            .begin_opened_by_caller()
            .await
            .expect("the second begins");
        // Gone before its first statement was known to have run.
        drop(tx);
    })
    .await;
    assert!(first.is_err(), "nothing in the batch is acknowledged");
    assert_eq!(rows(&lane).await, Vec::<i64>::new(), "nothing was kept");
}

#[tokio::test]
async fn a_failed_use_case_on_its_own_leaves_the_next_one_alone() {
    let lane = lane().await;
    let mut tx = lane.begin().await.expect("begins");
    sqlx::query("insert into t values (3)")
        .execute(&mut *tx)
        .await
        .expect("writes");
    drop(tx);
    let mut tx = lane.begin().await.expect("the next begins");
    sqlx::query("insert into t values (4)")
        .execute(&mut *tx)
        .await
        .expect("writes");
    tx.commit().await.expect("commits");
    assert_eq!(rows(&lane).await, vec![4]);
}
