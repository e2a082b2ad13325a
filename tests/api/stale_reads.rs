//! A decision is made on the intro as it is when it is written, not as a
//! page read it a moment before: on PostgreSQL a decision on an unchanged
//! intro is written without a lock, guarded by the version it read, so an
//! intro that moved on in between must be read again, never written over.

use twoyes::domain::{Channel, Command, Consent, Decision, Note, Role, Token};
use twoyes::store::PartyLink;
use twoyes::usecases::context;

use super::helpers::*;

/// The link behind the latest ask to `address`, read now.
async fn read_link(app: &TestApp, address: &str) -> PartyLink {
    let url = app.ask_link(address);
    let raw = url.rsplit('/').next().expect("a token");
    let token = Token::parse(raw).expect("a token");
    app.store
        .party_link(&token.hash())
        .await
        .expect("the link reads")
        .expect("the link is known")
}

fn yes(role: Role, link: &PartyLink) -> Command {
    Command::Decide {
        role,
        decision: Decision::Yes {
            note: Note::parse("").expect("an empty note"),
        },
        // Not what the page showed, but the machine only records it.
        shown_text_hash: format!("seen-at-version-{}", link.version),
    }
}

#[tokio::test]
async fn a_yes_on_a_page_read_before_the_other_yes_still_introduces() {
    let app = spawn_app_with(Config {
        undo_window: "0s",
        relay_delay: "0s",
        ..Config::default()
    })
    .await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;

    // Rita's page is read while Tom has not answered yet.
    let ritas_page = read_link(&app, RITA).await;
    assert_eq!(ritas_page.intro.id, id);
    // Tom says yes meanwhile: the intro moves on.
    assert_eq!(app.answer(TOM, &[("decision", "yes")]).await.status(), 303);
    let toms_page = read_link(&app, TOM).await;
    assert!(
        toms_page.version > ritas_page.version,
        "a decision counts a version: {} then {}",
        ritas_page.version,
        toms_page.version
    );

    // Rita's yes, made on her older read, must count Tom's yes too.
    let ctx = context(app.clock.as_ref(), app.settings.timings, Channel::Web);
    let command = yes(Role::Requester, &ritas_page);
    let after = app
        .store
        .apply_seen(&ritas_page, command, ctx)
        .await
        .expect("the yes is recorded");
    assert_eq!(after.requester.consent, Consent::Accepted, "{after:?}");
    assert_eq!(
        after.target.consent,
        Consent::Accepted,
        "Tom's yes kept: {after:?}"
    );
    app.settle().await;
    assert_eq!(app.status(&id).await, "introduced");
    let introductions: Vec<Email> = app
        .emails_to(RITA)
        .into_iter()
        .filter(|e| e.is_to(TOM))
        .collect();
    assert_eq!(introductions.len(), 1, "one introduction email to both");

    let yeses = app
        .store
        .events(&id)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "decided_yes")
        .count();
    assert_eq!(yeses, 2, "each yes recorded once");

    // A second answer on the same old read changes nothing.
    let again = app
        .store
        .apply_seen(&ritas_page, yes(Role::Requester, &ritas_page), ctx)
        .await;
    assert!(again.is_err(), "{again:?}");
    assert_eq!(app.status(&id).await, "introduced");
}

/// A process of an earlier version, still running during an upgrade,
/// writes an intro without counting its version: on PostgreSQL, where
/// decisions rely on the version, the database counts it.
#[tokio::test]
async fn a_write_that_does_not_count_the_version_is_counted_anyway() {
    use sqlx::Connection;
    let app = spawn_app().await;
    let Some(url) = database_url_for(app.dir.path()) else {
        return; // SQLite serializes its writers; no version is relied on.
    };
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    let before = read_link(&app, TOM).await.version;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .expect("connect to the test database");
    sqlx::query("update intros set updated_at = updated_at + 1 where intro_id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .expect("an old-style write");
    assert_eq!(read_link(&app, TOM).await.version, before + 1);
}
