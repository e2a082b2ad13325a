use super::helpers::*;

#[tokio::test]
async fn target_first_intro_is_sent_once_both_have_said_yes() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.settle().await;

    // Only the target is asked first.
    let asks = app.wait_for_emails_to(TOM, 1).await;
    assert!(
        asks[0]
            .subject
            .contains("Connie Connector would like to introduce you to Rita Requester")
    );
    assert!(asks[0].text.contains("I build soil sensors"));
    assert!(app.emails_to(RITA).is_empty());

    let response = app
        .answer(
            TOM,
            &[("decision", "yes"), ("note", "Book me at cal.example/tom")],
        )
        .await;
    assert_eq!(response.status(), 303);
    // Within the undo window nothing the yes causes is sent.
    app.advance(5 * MINUTE).await;
    assert!(app.emails_to(RITA).is_empty());
    app.advance(6 * MINUTE).await;

    let asks = app.wait_for_emails_to(RITA, 1).await;
    assert!(
        asks[0]
            .subject
            .contains("would like to introduce you to Tom Target")
    );
    app.answer(RITA, &[("decision", "yes")]).await;
    app.advance(11 * MINUTE).await;

    let intros: Vec<Email> = app
        .emails()
        .into_iter()
        .filter(|e| e.subject.starts_with("Intro:"))
        .collect();
    assert_eq!(intros.len(), 1);
    let intro = &intros[0];
    assert_eq!(
        intro.subject,
        format!(
            "Intro: Rita Requester <> Tom Target — {}",
            app.intro(&id).await["topic"].as_str().unwrap()
        )
    );
    assert!(intro.is_to(RITA) && intro.is_to(TOM));
    assert_eq!(intro.cc, vec![CONNIE.to_string()]);
    assert!(intro.text.contains("Book me at cal.example/tom"));
    assert!(intro.text.contains("move me to Bcc"));
    assert!(
        !intro.raw.contains("Auto-Submitted"),
        "the introduction is a person's email"
    );
    assert_eq!(app.status(&id).await, "introduced");
}

#[tokio::test]
async fn parallel_mode_asks_both_at_once_and_introduces_them() {
    let app = spawn_app_with(Config {
        undo_window: "0s",
        ..Config::default()
    })
    .await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    assert_eq!(app.wait_for_emails_to(TOM, 1).await.len(), 1);
    assert_eq!(app.wait_for_emails_to(RITA, 1).await.len(), 1);

    app.answer(RITA, &[("decision", "yes")]).await;
    app.settle().await;
    assert_eq!(app.status(&id).await, "asking");
    app.answer(TOM, &[("decision", "yes")]).await;
    app.settle().await;

    assert_eq!(app.status(&id).await, "introduced");
    let intros = app
        .emails()
        .into_iter()
        .filter(|e| e.subject.starts_with("Intro:"))
        .count();
    assert_eq!(intros, 1);
}

#[tokio::test]
async fn a_requester_who_opted_in_is_not_asked_again() {
    let app = spawn_app_with(Config {
        undo_window: "0s",
        ..Config::default()
    })
    .await;
    let mut body = intro_body("target_first");
    body["requester_opted_in"] = serde_json::json!(true);
    let id = app.propose(&body).await;
    app.settle().await;
    app.answer(TOM, &[("decision", "yes")]).await;
    app.settle().await;

    assert_eq!(app.status(&id).await, "introduced");
    assert!(
        app.emails_to(RITA).iter().all(|e| !e.text.contains("/o/")),
        "Rita was not asked"
    );
}
