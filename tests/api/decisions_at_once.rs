//! Many decisions at the same moment, on many intros: each is recorded, on
//! the intro as it stands when it is written. On PostgreSQL the writes that
//! wait together go out as one statement (`store/guarded_batches.rs`), and
//! the two parties of one intro answering at once race for it; on SQLite
//! they share the write lane's commits. Pages opened at the same moment
//! each show their own intro (on PostgreSQL their links' reads wait
//! together, `store/link_batches.rs`).

use serde_json::{Value, json};

use super::helpers::*;

const INTROS: usize = 16;

fn pair_body(i: usize) -> Value {
    json!({
        "requester": {"name": format!("Rita {i:02}"), "email": format!("rita{i}@requester.example")},
        "target": {"name": format!("Tom {i:02}"), "email": format!("tom{i}@target.example")},
        "reason": "You both work on soil health and keep asking me the same questions.",
        "mode": "parallel",
    })
}

/// Every third intro's target says no (and its requester, whose answer
/// could come after the intro closed, says nothing); the others' parties
/// both say yes.
fn answers(i: usize) -> Vec<(String, &'static str)> {
    let tom = format!("tom{i}@target.example");
    if i.is_multiple_of(3) {
        return vec![(tom, "no")];
    }
    vec![(format!("rita{i}@requester.example"), "yes"), (tom, "yes")]
}

#[tokio::test]
async fn decisions_made_together_each_count_once() {
    let app = spawn_app_with(Config {
        undo_window: "0s",
        relay_delay: "0s",
        ..Config::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..INTROS {
        ids.push(app.propose(&pair_body(i)).await);
    }
    app.settle().await;

    // Every party answers at once, both of a pair side by side.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..INTROS {
        for (address, answer) in answers(i) {
            let (client, link) = (app.client.clone(), app.ask_link(&address));
            tasks.spawn(async move {
                let response = client
                    .post(&link)
                    .form(&[("decision", answer), ("note", "")])
                    .send()
                    .await
                    .expect("POST");
                (address, response.status().as_u16())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (address, status) = done.expect("an answer task");
        assert_eq!(status, 303, "{address}'s answer is recorded");
    }
    app.settle().await;

    for (i, id) in ids.iter().enumerate() {
        let (rita, tom) = (
            format!("rita{i}@requester.example"),
            format!("tom{i}@target.example"),
        );
        let intro = app.intro(id).await;
        let introductions = app
            .emails_to(&rita)
            .into_iter()
            .filter(|e| e.is_to(&tom))
            .count();
        if i.is_multiple_of(3) {
            assert_eq!(intro["status"], "declined", "intro {i}: {intro}");
            assert_eq!(introductions, 0, "intro {i}: no introduction");
        } else {
            assert_eq!(intro["status"], "introduced", "intro {i}: {intro}");
            assert_eq!(introductions, 1, "intro {i}: one introduction");
        }
        let record = app.consent_record(id).await;
        let mut decisions: Vec<(String, String)> = record["decisions"]
            .as_array()
            .expect("decisions")
            .iter()
            .map(|d| (d["role"].to_string(), d["decision"].to_string()))
            .collect();
        decisions.sort();
        let mut expected: Vec<(String, String)> = answers(i)
            .into_iter()
            .map(|(address, answer)| {
                let role = if address.starts_with("rita") {
                    "requester"
                } else {
                    "target"
                };
                (format!("{role:?}"), format!("{answer:?}"))
            })
            .collect();
        expected.sort();
        assert_eq!(decisions, expected, "intro {i}: each decision once");
    }
}

#[tokio::test]
async fn pages_opened_together_each_show_their_own_intro() {
    let app = spawn_app().await;
    for i in 0..INTROS {
        app.propose(&pair_body(i)).await;
    }
    app.settle().await;

    // Both parties of every intro open their page at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..INTROS {
        for (address, other) in [
            (format!("rita{i}@requester.example"), "Tom"),
            (format!("tom{i}@target.example"), "Rita"),
        ] {
            let (client, link) = (app.client.clone(), app.ask_link(&address));
            tasks.spawn(async move {
                let response = client.get(&link).send().await.expect("GET");
                let status = response.status().as_u16();
                let page = response.text().await.expect("the page");
                (i, address, other, status, page)
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (i, address, other, status, page) = done.expect("a page task");
        assert_eq!(status, 200, "{address}'s page");
        for j in 0..INTROS {
            let name = format!("{other} {j:02}");
            assert_eq!(
                page.contains(&name),
                i == j,
                "{address}'s page names {name} only if it is their intro's"
            );
        }
    }
}
