//! The connector's web app (issue 5): sign-in, sessions, CSRF, the first
//! account's setup link, the dashboard, the new-intro form and the intro
//! page, driven over HTTP as a browser would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::helpers::*;

/// The binary, killed when the test ends however it ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("addr").port()
}

fn twoyes(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twoyes"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOYES_") {
            command.env_remove(key);
        }
    }
    command.arg("--data-dir").arg(dir);
    if let Some(url) = database_url_for(dir) {
        command.env("TWOYES_DATABASE_URL", url);
    }
    command
}

fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn serve_prints_a_one_time_setup_link_that_creates_the_first_account() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = twoyes(dir.path())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("twoyes serve starts");
    let stdout = child.stdout.take().unwrap();
    let _serve = Serve(child);
    let link = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_whitespace()
                    .find(|w| w.contains("/setup/"))
                    .map(str::to_string)
            })
    })
    .await
    .unwrap()
    .expect("serve printed a setup link");
    let client = cookie_client();
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_in(&page.text().await.unwrap());
    let short = client
        .post(&link)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Ann Lee"),
            ("email", "ann@example.com"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422, "a short password is refused");
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 10 characters")
    );
    let created = client
        .post(&link)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Ann Lee"),
            ("email", "ann@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let home = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200, "signed in as the new account");
    assert!(home.text().await.unwrap().contains("Ann Lee"));
    let again = client.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 404, "the link works once");
}

#[tokio::test]
async fn connector_add_sets_a_password_from_stdin_or_prints_a_one_time_link() {
    let app = spawn_app().await;
    let dir = app.dir.path().to_path_buf();
    // The app runs on this test's runtime: wait for the child off it.
    let mut add = twoyes(&dir);
    let added = tokio::task::spawn_blocking(move || {
        let mut child = add
            .args([
                "connector",
                "add",
                "--email",
                "pat@example.com",
                "--name",
                "Pat Doe",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{PASSWORD}").unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let client = cookie_client();
    let login = client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&login.text().await.unwrap());
    let signed_in = client
        .post(format!("{}/login", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "pat@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "the stdin password signs in");

    let mut add = twoyes(&dir);
    add.args(["--base-url", &app.address]);
    let out = tokio::task::spawn_blocking(move || {
        add.args([
            "connector",
            "add",
            "--email",
            "lee@example.com",
            "--name",
            "Lee Roe",
        ])
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let link = stdout
        .split_whitespace()
        .find(|w| w.contains("/password/"))
        .expect("a one-time link is printed");
    // The CLI made the link on the real clock; the app runs on a test clock.
    app.clock.set(twoyes::domain::Timestamp::from_millis(
        chrono::Utc::now().timestamp_millis(),
    ));
    let client = cookie_client();
    let page = client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("lee@example.com"));
    let set = client
        .post(link)
        .form(&[("csrf", csrf_in(&html).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 303);
    assert_eq!(
        client.get(link).send().await.unwrap().status(),
        404,
        "used up"
    );
}

#[tokio::test]
async fn signing_in_needs_the_right_password_and_repeated_failures_are_slowed_down() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    assert!(session.page("/").await.contains("Connie Connector"));

    let client = cookie_client();
    let login = client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&login.text().await.unwrap());
    let attempt = |password: &'static str| {
        let client = client.clone();
        let csrf = csrf.clone();
        let url = format!("{}/login", app.address);
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", CONNIE),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = attempt("not the password").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("do not match"));
    let unknown = client
        .post(format!("{}/login", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "nobody@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        401,
        "an unknown address gets the same answer"
    );
    for _ in 0..4 {
        attempt("still not it").await;
    }
    let limited = attempt(PASSWORD).await;
    assert_eq!(
        limited.status(),
        429,
        "even the right password waits after 5 failures"
    );
    app.advance(std::time::Duration::from_secs(16 * 60)).await;
    assert_eq!(
        attempt(PASSWORD).await.status(),
        303,
        "after the window it works"
    );
}

#[tokio::test]
async fn pages_need_a_session_and_signing_out_ends_it_on_the_server() {
    let app = spawn_app().await;
    let anonymous = app.open(&format!("{}/intros/new", app.address)).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        "/login?next=%2Fintros%2Fnew"
    );
    let session = app.sign_in().await;
    let cookie = session.client.get(session.url("/")).send().await.unwrap();
    assert_eq!(cookie.status(), 200);
    assert_eq!(session.post("/logout", &[]).await.status(), 303);
    assert_eq!(session.get("/").await.status(), 303, "signed out");
}

#[tokio::test]
async fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let fields = [
        ("target_name", "Tom Target"),
        ("target_email", TOM),
        ("requester_name", "Rita Requester"),
        ("requester_email", RITA),
        ("reason", "Soil."),
        ("action", "send"),
    ];
    let refused = session.post_without_csrf("/intros/new", &fields).await;
    assert_eq!(refused.status(), 403);
    let mut forged = vec![("csrf", "x".repeat(43))];
    forged.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let forged = session
        .client
        .post(session.url("/intros/new"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        session.post_without_csrf("/logout", &[]).await.status(),
        403
    );
    assert!(
        session.page("/").await.contains("No intros yet"),
        "nothing was created"
    );
    assert_eq!(
        session.post("/intros/new", &fields).await.status(),
        303,
        "with the token it works"
    );
}

#[tokio::test]
async fn the_new_intro_form_previews_each_ask_and_warns_before_sending() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let long_blurb = "word ".repeat(130);
    let fields = [
        ("target_name", "Tom Target"),
        ("target_email", TOM),
        ("requester_name", "Rita Requester"),
        ("requester_email", RITA),
        ("requester_blurb", long_blurb.as_str()),
        ("reason", "You both <b>love</b> soil."),
        ("mode", "target_first"),
        ("action", "preview"),
    ];
    let preview = session.post("/intros/new", &fields).await;
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    assert!(html.contains("What Tom Target will read"));
    assert!(html.contains("What Rita Requester will read"));
    assert!(html.contains("Sent only after Tom says yes."));
    assert!(html.contains("Connie Connector would like to introduce you to Rita Requester"));
    assert!(
        html.contains("You both &#60;b&#62;love&#60;/b&#62; soil.")
            || html.contains("You both &lt;b&gt;love&lt;/b&gt; soil."),
        "escaped"
    );
    assert!(html.contains("The blurb has 130 words"));
    assert!(app.emails().is_empty(), "a preview sends nothing");

    let bad = session
        .post(
            "/intros/new",
            &[
                ("target_name", "Tom"),
                ("target_email", "not an address"),
                ("requester_name", "Rita"),
                ("requester_email", RITA),
                ("reason", "x"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text().await.unwrap().contains("Target&#39;s email"),
        "the field is named"
    );

    let mut send = fields.to_vec();
    send.retain(|(k, _)| *k != "action" && *k != "requester_blurb");
    send.push(("action", "send"));
    let sent = session.post("/intros/new", &send).await;
    assert_eq!(sent.status(), 303);
    let location = sent.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/intros/"));
    app.wait_for_emails_to(TOM, 1).await;

    let again = session.post("/intros/new", &fields).await;
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("already have an intro in progress")
    );
    session.post(&format!("{location}/cancel"), &[]).await;
    app.answer(TOM, &[]).await; // the page still opens; nothing to decide
    let after = session
        .post("/intros/new", &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !after.contains("already have an intro in progress"),
        "cancelled is not in progress"
    );
}

#[tokio::test]
async fn the_intro_page_shows_the_timeline_consents_emails_and_cancels() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.wait_for_emails_to(TOM, 1).await;
    let session = app.sign_in().await;
    let page = session.page(&format!("/intros/{id}")).await;
    assert!(page.contains("Proposed the intro"));
    assert!(page.contains("data-consent=\"asked\""));
    assert!(page.contains("Ask"), "the ask email is listed");

    app.answer(
        TOM,
        &[
            ("decision", "yes"),
            ("note", "Book a call: cal.example/tom"),
        ],
    )
    .await;
    app.settle().await;
    let page = session.page(&format!("/intros/{id}")).await;
    assert!(page.contains("Tom Target</strong>: Said yes"), "{page}");
    assert!(page.contains("via web"));
    assert!(page.contains("data-consent=\"accepted\""));

    assert_eq!(
        session
            .post(&format!("/intros/{id}/cancel"), &[])
            .await
            .status(),
        303
    );
    assert_eq!(app.status(&id).await, "cancelled");
    let page = session.page(&format!("/intros/{id}")).await;
    assert!(page.contains("Cancelled the intro"));
    assert!(
        !page.contains("Cancel this intro"),
        "no cancel button on a closed intro"
    );
}

#[tokio::test]
async fn the_dashboard_counts_searches_and_pages_through_intros() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..55 {
        let mut body = intro_body("parallel");
        body["requester"]["name"] = format!("Rita Number{n}").into();
        body["requester"]["email"] = format!("rita{n}@requester.example").into();
        ids.push(app.propose(&body).await);
    }
    let mut body = intro_body("target_first");
    body["requester"]["name"] = "Ada Lovelace".into();
    body["requester"]["email"] = "ada@engine.example".into();
    let ada = app.propose(&body).await;
    let session = app.sign_in().await;

    let home = session.page("/").await;
    assert!(home.contains("All (56)"));
    assert!(home.contains("Asking (56)"));
    assert!(home.contains("Older →"));
    let older = home
        .split("href=\"")
        .find(|s| s.starts_with("/?after="))
        .unwrap();
    let older = older.split('"').next().unwrap().replace("&amp;", "&");
    let second = session.page(&older).await;
    assert!(second.contains(&ids[0]), "the oldest intro is on page two");
    assert!(!second.contains(&ada), "the newest is not");

    for q in ["lovelace", "ADA", "ada@eng", "ada lovelace"] {
        let found = session.page(&format!("/?q={}", q.replace(' ', "+"))).await;
        assert!(found.contains(&ada), "search {q}");
        assert!(!found.contains(&ids[3]), "search {q} finds only Ada");
    }
    let none = session.page("/?q=zzz").await;
    assert!(none.contains("No intro matches"));
    session.post(&format!("/intros/{ada}/cancel"), &[]).await;
    let cancelled = session.page("/?status=cancelled").await;
    assert!(cancelled.contains("Cancelled (1)"));
    assert!(cancelled.contains(&ada));
    assert!(!cancelled.contains(&ids[0]));
}

#[tokio::test]
async fn every_page_is_phone_ready_and_locked_down() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let session = app.sign_in().await;
    for path in [
        "/",
        "/intros/new",
        &format!("/intros/{id}"),
        "/settings",
        "/settings/wording/ask",
    ] {
        let response = session.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        let html = response.text().await.unwrap();
        assert!(html.contains("<meta name=\"viewport\""), "{path}");
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(!html.contains(" style=\""), "{path}: no inline style");
        // Every input that a person fills has a label.
        for id in html
            .split(" id=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
        {
            let tag_start = html.find(&format!(" id=\"{id}\"")).unwrap();
            let tag = &html[html[..tag_start].rfind('<').unwrap()..tag_start];
            if tag.starts_with("<input") && !tag.contains("type=\"hidden\"")
                || tag.starts_with("<textarea")
                || tag.starts_with("<select")
            {
                assert!(
                    html.contains(&format!("for=\"{id}\"")),
                    "{path}: #{id} has no label"
                );
            }
        }
    }
    let css = session.get("/static/app.css").await;
    assert_eq!(css.status(), 200);
    assert!(
        css.text().await.unwrap().contains(":focus-visible"),
        "visible focus"
    );
}
