//! Guards (issue 6, item 2) and the consent record (item 3): a pair with an
//! intro in progress cannot get a second one; a pair declined or expired
//! within `cooldown` is refused with the date it opens again; at most
//! `max-asks-per-recipient-per-day` asks reach one address a day (the rest
//! wait); every decision can be exported with the hash of what was shown.

use serde_json::Value;

use super::helpers::*;

async fn error_code(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
        body["error"]["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn a_pair_with_an_intro_in_progress_cannot_get_a_second_one() {
    let app = spawn_app().await;
    let first = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let asks = app.emails().len();
    let (status, code, message) = error_code(app.post_intro(&intro_body("parallel")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "pair_in_progress"),
        "{message}"
    );
    assert!(
        message.contains("Rita Requester and Tom Target"),
        "{message}"
    );
    // The same two the other way round are the same pair.
    let mut swapped = intro_body("target_first");
    swapped["requester"] = serde_json::json!({"name": "Tom Target", "email": TOM});
    swapped["target"] = serde_json::json!({"name": "Rita Requester", "email": RITA});
    assert_eq!(app.post_intro(&swapped).await.status(), 409);
    app.settle().await;
    assert_eq!(app.emails().len(), asks, "nothing was sent");

    // Another connector's intros are theirs: the guard does not reveal them.
    let other = app.second_connector().await;
    let token = add_token(&app.store, &other).await;
    assert_eq!(
        app.post_intro_as(&token, &intro_body("target_first"))
            .await
            .status(),
        201
    );

    // Once the first has ended with an introduction, a new one may start.
    app.answer(TOM, &[("decision", "yes")]).await;
    app.advance(11 * MINUTE).await;
    app.answer(RITA, &[("decision", "yes")]).await;
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&first).await, "introduced");
    assert_eq!(
        app.post_intro(&intro_body("target_first")).await.status(),
        201
    );
}

#[tokio::test]
async fn proposals_for_one_pair_at_the_same_moment_make_one_intro() {
    let app = spawn_app().await;
    // Eight at once, half of them with the pair the other way round: on
    // PostgreSQL each runs in a transaction of its own, and none may miss
    // another's intro that has not committed yet.
    let bodies: Vec<Value> = (0..8)
        .map(|i| {
            let mut body = intro_body("target_first");
            if i % 2 == 1 {
                body["requester"] = serde_json::json!({"name": "Tom Target", "email": TOM});
                body["target"] = serde_json::json!({"name": "Rita Requester", "email": RITA});
            }
            body
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for body in bodies {
        let (client, url, token) = (
            app.client.clone(),
            app.api("/intros"),
            app.api_token.clone(),
        );
        tasks.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request");
            error_code(response).await
        });
    }
    let mut created = 0;
    while let Some(outcome) = tasks.join_next().await {
        let (status, code, message) = outcome.expect("a proposal task");
        match status {
            201 => created += 1,
            _ => assert_eq!(
                (status, code.as_str()),
                (409, "pair_in_progress"),
                "{message}"
            ),
        }
    }
    assert_eq!(created, 1, "exactly one of the eight is made");
    app.settle().await;
    // `target_first`: one ask, to the winning proposal's target.
    assert_eq!(
        app.emails_to(TOM).len() + app.emails_to(RITA).len(),
        1,
        "one ask"
    );
}

#[tokio::test]
async fn a_declined_pair_waits_out_the_cooldown_and_is_told_the_date() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.wait_for_emails_to(TOM, 1).await;
    app.answer(TOM, &[("decision", "no")]).await;
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&id).await, "declined");

    let (status, code, message) =
        error_code(app.post_intro(&intro_body("target_first")).await).await;
    assert_eq!((status, code.as_str()), (409, "pair_cooldown"), "{message}");
    let opens = app.now().plus(89 * DAY).human_date();
    assert!(
        message.contains(&opens) || message.contains(&app.now().plus(90 * DAY).human_date()),
        "{message}"
    );
    assert!(
        !message.to_lowercase().contains("declined"),
        "the reason stays private: {message}"
    );

    // The web form says the same, and sends nothing.
    let web = app.sign_in().await;
    let page = web
        .post(
            "/intros/new",
            &[
                ("target_name", "Tom Target"),
                ("target_email", TOM),
                ("requester_name", "Rita Requester"),
                ("requester_email", RITA),
                ("reason", "Try again?"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(page.status(), 409);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("can be asked again from")
    );

    app.advance(91 * DAY).await;
    assert_eq!(
        app.post_intro(&intro_body("target_first")).await.status(),
        201
    );
}

#[tokio::test]
async fn a_connector_may_lengthen_the_cooldown_but_not_shorten_it() {
    let app = spawn_app().await;
    let web = app.sign_in().await;
    let shorter = web.post("/settings/timings", &[("cooldown", "10d")]).await;
    assert_eq!(
        shorter.status(),
        422,
        "the people's protection cannot be lowered"
    );
    assert!(shorter.text().await.unwrap().contains("not shorter"));
    assert_eq!(
        web.post("/settings/timings", &[("cooldown", "120d")])
            .await
            .status(),
        303
    );
    let id = app.propose(&intro_body("target_first")).await;
    app.wait_for_emails_to(TOM, 1).await;
    app.advance(8 * DAY).await;
    assert_eq!(app.status(&id).await, "expired");
    // Expired at day 7: the installation's 90 days would have ended at day
    // 97; this connector's 120 days end at day 127.
    app.advance(100 * DAY).await;
    assert_eq!(
        app.post_intro(&intro_body("target_first")).await.status(),
        409
    );
    app.advance(20 * DAY).await;
    assert_eq!(
        app.post_intro(&intro_body("target_first")).await.status(),
        201
    );
}

#[tokio::test]
async fn asks_beyond_the_daily_cap_wait_for_the_next_day_across_connectors() {
    let app = spawn_app().await;
    let other = app.second_connector().await;
    let other_token = add_token(&app.store, &other).await;
    for n in 0..4 {
        let mut body = intro_body("target_first");
        body["requester"]["email"] = format!("rita{n}@requester.example").into();
        let token = if n % 2 == 0 {
            &app.api_token
        } else {
            &other_token
        };
        assert_eq!(app.post_intro_as(token, &body).await.status(), 201);
    }
    app.settle().await;
    assert_eq!(
        app.emails_to(TOM).len(),
        3,
        "three asks today, from two connectors"
    );
    app.advance(23 * HOUR).await;
    assert_eq!(app.emails_to(TOM).len(), 3, "the fourth still waits");
    app.advance(2 * HOUR).await;
    assert_eq!(
        app.emails_to(TOM).len(),
        4,
        "the fourth went the next day, not dropped"
    );
}

#[tokio::test]
async fn one_batch_of_asks_counts_its_own_asks_against_the_daily_cap() {
    // Five asks to one address wait in the outbox, then one worker pass
    // claims them together: the asks earlier in the batch count, so only
    // the cap's three go and the other two wait for tomorrow.
    let app = spawn_app_with(Config {
        worker: false,
        ..Config::default()
    })
    .await;
    for n in 0..5 {
        let mut body = intro_body("target_first");
        body["requester"]["email"] = format!("rita{n}@requester.example").into();
        assert_eq!(app.post_intro(&body).await.status(), 201);
    }
    let worker = app.worker();
    let passes = || async {
        for _ in 0..10 {
            if !worker.run_once().await.expect("a worker pass") {
                break;
            }
        }
    };
    passes().await;
    assert_eq!(app.emails_to(TOM).len(), 3, "the cap's three asks went");
    // Held back by their own batch, the other two are looked at again
    // shortly: the three went, so now they wait for the day to pass.
    app.clock.advance(2 * MINUTE);
    passes().await;
    assert_eq!(app.emails_to(TOM).len(), 3, "the other two still wait");
    app.clock.advance(25 * HOUR);
    passes().await;
    assert_eq!(
        app.emails_to(TOM).len(),
        5,
        "the other two went the next day"
    );
}

#[tokio::test]
async fn the_consent_record_lists_every_decision_with_the_hash_of_what_was_shown() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.wait_for_emails_to(TOM, 1).await;
    app.answer(TOM, &[("decision", "yes")]).await;
    app.advance(11 * MINUTE).await;
    app.answer(RITA, &[("decision", "no"), ("reason", "Busy season")])
        .await;
    app.advance(11 * MINUTE).await;

    let record = app.consent_record(&id).await;
    assert_eq!(record["intro_id"], id.as_str());
    let decisions = record["decisions"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = decisions
        .iter()
        .map(|d| {
            (
                d["role"].as_str().unwrap().to_string(),
                d["decision"].as_str().unwrap().to_string(),
                d["channel"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("target".into(), "yes".into(), "web".into()),
            ("requester".into(), "no".into(), "web".into())
        ]
    );
    for d in decisions {
        let hash = d["text_hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64, "a SHA-256 of the shown text: {d}");
        assert!(d["at"].as_str().unwrap().ends_with('Z'));
    }
    assert!(
        !record.to_string().contains("Busy season"),
        "the private reason is not part of it"
    );

    let other = app.second_connector().await;
    let token = add_token(&app.store, &other).await;
    let theirs = app
        .client
        .get(app.api(&format!("/intros/{id}/consent")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404, "another connector's intro");

    // The CLI prints the same record.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twoyes"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOYES_") {
            command.env_remove(key);
        }
    }
    command.arg("--data-dir").arg(app.dir.path());
    if let Some(url) = database_url_for(app.dir.path()) {
        command.env("TWOYES_DATABASE_URL", url);
    }
    command.args(["intro", "consent", &id, "--json"]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli, record);
}
