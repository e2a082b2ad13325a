//! The web app's contacts (with CSV import), statistics and local mailbox
//! (issue 5, items 4, 7 and 8), driven over HTTP as a browser would.

use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::*;

fn body(requester: (&str, &str), target: (&str, &str), mode: &str) -> Value {
    json!({
        "requester": {"name": requester.0, "email": requester.1},
        "target": {"name": target.0, "email": target.1},
        "reason": "You both work on soil health.",
        "mode": mode,
    })
}

/// The ids of the `/prefix/{id}` links of a page, in order.
fn ids(page: &str, prefix: &str) -> Vec<String> {
    let needle = format!("href=\"{prefix}");
    page.match_indices(&needle)
        .map(|(at, _)| {
            page[at + needle.len()..]
                .split(['"', '?'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|id| !id.is_empty() && !id.contains('/') && id != "import")
        .collect()
}

/// The id of the contact whose list row shows `name`.
async fn contact_id(web: &WebSession, name: &str) -> String {
    let page = web.page("/contacts").await;
    let at = page
        .find(name)
        .unwrap_or_else(|| panic!("{name} in {page}"));
    let before = &page[..at];
    let start = before.rfind("href=\"/contacts/").expect("a contact link") + 16;
    before[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn people_of_intros_become_contacts_with_their_answers_and_notes() {
    // Arrange: an intro, its ask sent.
    let app = spawn_app().await;
    let intro = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let web = app.sign_in().await;

    // The list shows both people; search narrows it.
    let list = web.page("/contacts").await;
    assert!(
        list.contains("Rita Requester") && list.contains("Tom Target"),
        "{list}"
    );
    let found = web.page("/contacts?q=TOM").await;
    assert!(found.contains("Tom Target") && !found.contains("Rita Requester"));
    let none = web.page("/contacts?q=nobody%25").await;
    assert!(none.contains("No contact matches"), "{none}");

    // Tom's page: the intro, his answer so far, a link to it.
    let tom = contact_id(&web, "Tom Target").await;
    let page = web.page(&format!("/contacts/{tom}")).await;
    assert!(
        page.contains(&format!("href=\"/intros/{intro}\"")),
        "{page}"
    );
    assert!(page.contains("data-consent=\"asked\""), "{page}");
    assert!(page.contains("Rita Requester"));

    // Act: edit how Connie knows him and a note.
    let saved = web
        .post(
            &format!("/contacts/{tom}"),
            &[
                ("name", "Tom T. Target"),
                ("how_known", "Rowing club, 2019"),
                ("notes", "Prefers mornings.\nSoil <scientist>."),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let page = web.page(&format!("/contacts/{tom}")).await;
    assert!(page.contains("Tom T. Target") && page.contains("Rowing club, 2019"));
    assert!(
        page.contains("Soil &#60;scientist&#62;."),
        "notes are escaped: {page}"
    );

    // Bad input changes nothing.
    let bad = web
        .post(
            &format!("/contacts/{tom}"),
            &[("name", " "), ("notes", "lost")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("Nothing was changed"));
    let page = web.page(&format!("/contacts/{tom}")).await;
    assert!(page.contains("Prefers mornings.") && !page.contains(">lost<"));
    let forged = web
        .post_without_csrf(&format!("/contacts/{tom}"), &[("name", "Forged")])
        .await;
    assert_eq!(forged.status(), 403);

    // The new-intro form suggests contacts, the most recently used first.
    let form = web.page("/intros/new").await;
    assert!(form.contains("value=\"Tom T. Target\""), "{form}");

    // Another connector sees none of it.
    let other = app.second_connector().await;
    let olive = app.sign_in_as(&other).await;
    assert_eq!(olive.get(&format!("/contacts/{tom}")).await.status(), 404);
    let theirs = olive.page("/contacts").await;
    assert!(!theirs.contains("Tom"), "{theirs}");
    let post = olive
        .post(&format!("/contacts/{tom}"), &[("name", "Stolen")])
        .await;
    assert_eq!(post.status(), 404);
}

#[tokio::test]
async fn contact_pages_are_keyset_pages_in_name_order() {
    let app = spawn_app().await;
    let web = app.sign_in().await;
    let mut csv = String::from("name,email\n");
    for i in 0..450 {
        csv.push_str(&format!("Person {i:03},p{i}@example.com\n"));
    }
    let job = upload(&web, "people.csv", csv.as_bytes()).await;
    assert_eq!(job.status(), 303);
    let page = wait_for_import(&web, &location(&job)).await;
    assert!(page.contains("<strong id=\"added\">450</strong>"), "{page}");

    let mut seen = Vec::new();
    let mut next = Some("/contacts".to_string());
    while let Some(path) = next.take() {
        let page = web.page(&path).await;
        seen.extend(ids(&page, "/contacts/"));
        next = page
            .split("href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .find(|h| h.starts_with("/contacts?after="))
            .map(|h| h.replace("&amp;", "&"));
    }
    assert_eq!(seen.len(), 450, "every contact once");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 450);
    let first = web.page("/contacts").await;
    assert!(first.find("Person 000") < first.find("Person 001"));
}

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----twoyes-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(web: &WebSession, name: &str, bytes: &[u8]) -> reqwest::Response {
    let (content_type, body) = multipart(name, bytes);
    web.client
        .post(web.url(&format!("/contacts/import?csrf={}", web.csrf)))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Polls the job page as its refresh would, until it says done.
async fn wait_for_import(web: &WebSession, path: &str) -> String {
    for _ in 0..500 {
        let page = web.page(path).await;
        assert!(page.contains("<progress"), "{page}");
        if page.contains("data-status=\"done\"") {
            assert!(!page.contains("http-equiv=\"refresh\""));
            return page;
        }
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"1\">"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the import did not finish");
}

#[tokio::test]
async fn a_csv_import_adds_and_updates_contacts_and_reports_each_bad_row() {
    // Arrange: Tom is a contact already, through an intro.
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    let web = app.sign_in().await;
    let form = web.page("/contacts/import").await;
    assert!(form.contains("enctype=\"multipart/form-data\""));
    assert!(form.contains(&format!("action=\"/contacts/import?csrf={}\"", web.csrf)));
    let csv = "\u{feff}Name,E-mail,How known,Notes\r\n\
        \"Lovelace, Ada\",ada@example.com,\"met at \"\"the club\"\"\",\"first line\nsecond line\"\r\n\
        Tom Target,TOM@target.example,Rowing,\r\n\
        Bad Address,not-an-email,,\r\n\
        ,nobody@example.com,,\r\n\
        Grace Hopper,grace@example.com,,\r\n";

    // Act
    let job = upload(&web, "my contacts.csv", csv.as_bytes()).await;
    assert_eq!(job.status(), 303);
    let path = location(&job);
    let page = wait_for_import(&web, &path).await;

    // Assert: counts, and each failed row with its line and why.
    assert!(page.contains("<strong id=\"added\">2</strong>"), "{page}");
    assert!(page.contains("<strong id=\"updated\">1</strong>"), "{page}");
    assert!(page.contains("<strong id=\"failed\">2</strong>"), "{page}");
    assert!(page.contains("<td>5</td><td>bad email:"), "{page}");
    assert!(page.contains("<td>6</td><td>missing name</td>"), "{page}");
    let ada = contact_id(&web, "Lovelace, Ada").await;
    let ada_page = web.page(&format!("/contacts/{ada}")).await;
    assert!(ada_page.contains("met at &#34;the club&#34;"), "{ada_page}");
    assert!(ada_page.contains("first line\nsecond line"));
    let tom = web
        .page(&format!(
            "/contacts/{}",
            contact_id(&web, "Tom Target").await
        ))
        .await;
    assert!(tom.contains("value=\"Rowing\""), "{tom}");
    let list = web.page("/contacts").await;
    assert!(list.contains("Grace Hopper") && !list.contains("nobody@example.com"));

    // A file that cannot be imported is refused whole, with the reason.
    let before = web.page("/contacts").await;
    let refused = upload(&web, "x.csv", b"Name,Phone\nAnn,123\n").await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("“email”") && text.contains("Nothing was imported"),
        "{text}"
    );
    let refused = upload(&web, "x.csv", b"\xff\xfeN\x00").await;
    assert_eq!(refused.status(), 422);
    assert_eq!(web.page("/contacts").await, before);

    // No token, no import; another connector cannot see the job.
    let (content_type, body) = multipart("x.csv", csv.as_bytes());
    let forged = web
        .client
        .post(web.url("/contacts/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let other = app.second_connector().await;
    let olive = app.sign_in_as(&other).await;
    assert_eq!(olive.get(&path).await.status(), 404);
}

async fn decide(app: &TestApp, address: &str, decision: &str) {
    let answered = app.answer(address, &[("decision", decision)]).await;
    assert_eq!(answered.status(), 303, "{address} {decision}");
}

#[tokio::test]
async fn statistics_count_a_known_month_and_export_it_as_csv() {
    // Arrange: in December 2026, one intro of each ending.
    let app = spawn_app_with(Config {
        undo_window: "0s",
        ..Config::default()
    })
    .await;
    let introduced = app.propose(&intro_body("parallel")).await;
    let declined = app
        .propose(&body(
            ("Ann A", "ann@a.example"),
            ("Bob B", "bob@b.example"),
            "target_first",
        ))
        .await;
    let expired = app
        .propose(&body(
            ("Cat C", "cat@c.example"),
            ("Dan D", "dan@d.example"),
            "target_first",
        ))
        .await;
    let cancelled = app
        .propose(&body(
            ("Eve E", "eve@e.example"),
            ("Fay F", "fay@f.example"),
            "target_first",
        ))
        .await;
    app.settle().await;
    decide(&app, "bob@b.example", "no").await;
    let cancel = app
        .client
        .post(app.api(&format!("/intros/{cancelled}/cancel")))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    app.advance(2 * HOUR).await;
    decide(&app, TOM, "yes").await; // asked to yes: 2 h
    app.advance(2 * HOUR).await;
    decide(&app, RITA, "yes").await; // 4 h
    app.settle().await;
    app.advance(15 * DAY).await;
    for (id, status) in [
        (&introduced, "introduced"),
        (&declined, "declined"),
        (&expired, "expired"),
        (&cancelled, "cancelled"),
    ] {
        assert_eq!(app.status(id).await, status);
    }
    let follow_up = app
        .emails_to(RITA)
        .into_iter()
        .find(|e| e.subject.starts_with("Did you and"))
        .expect("a follow-up")
        .link("/f/");
    assert_eq!(
        app.submit(&follow_up, &[("answer", "yes")]).await.status(),
        200
    );
    let web = app.sign_in().await;

    // Act
    let page = web.page("/stats").await;

    // Assert: the summary, the charts, and the table row for the month.
    assert!(
        page.contains("<strong id=\"acceptance-rate\">33%</strong>"),
        "{page}"
    );
    assert!(
        page.contains("<strong id=\"median-time-to-yes\">3 h</strong>"),
        "{page}"
    );
    assert!(page.contains("<strong id=\"expired\">1</strong>"), "{page}");
    assert!(
        page.contains("Requesters: 1 connected, 0 not yet, 0 not useful"),
        "{page}"
    );
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 4);
    assert_eq!(page.matches("role=\"img\" aria-labelledby=").count(), 4);
    assert!(!page.contains("style="), "no inline styles under the CSP");
    assert!(page.contains(
        "<th scope=\"row\">2026-12</th><td>4</td><td>1</td><td>1</td><td>1</td><td>1</td><td>33%</td><td>2</td><td>3 h</td><td>1</td><td>0</td><td>0</td>"
    ), "{page}");
    assert!(page.contains("<th scope=\"row\">2026-01</th><td>0</td>"));

    let csv = web.get("/stats.csv").await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 14, "header, 12 months, total");
    assert!(
        lines[0]
            .starts_with("month,proposed,introduced,declined,expired,cancelled,acceptance_rate")
    );
    assert_eq!(lines[12], "2026-12,4,1,1,1,1,0.3333,2,3.00,1,0,0");
    assert_eq!(lines[13], "total,4,1,1,1,1,0.3333,2,3.00,1,0,0");

    // Another connector's statistics are their own (empty).
    let other = app.second_connector().await;
    let olive = app.sign_in_as(&other).await;
    let theirs = olive.get("/stats.csv").await.text().await.unwrap();
    assert!(theirs.contains("\ntotal,0,0,0,0,0,,0,,0,0,0"), "{theirs}");
}

/// The app with the embedded default transport: mail files in the data dir.
async fn spawn_app_with_mail_files() -> TestApp {
    spawn_app_with(Config {
        file_mail: true,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn the_mailbox_shows_this_connectors_mail_files_with_working_links() {
    // Arrange: an intro whose asks went to files.
    let app = spawn_app_with_mail_files().await;
    // The installation's administrator (who can read the mail files anyway)
    // sees working links; see below for everyone else.
    let admin = app
        .store
        .add_connector(
            twoyes::store::NewConnector {
                email: twoyes::domain::EmailAddress::parse("ann@connector.example").unwrap(),
                name: twoyes::domain::PersonName::parse("Ann Admin").unwrap(),
                handle: None,
                is_admin: true,
            },
            app.now(),
        )
        .await
        .unwrap();
    let admin_token = add_token(&app.store, &admin).await;
    let created = app
        .post_intro_as(&admin_token, &intro_body("parallel"))
        .await;
    assert_eq!(created.status(), 201);
    let intro = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.settle().await;
    let files = std::fs::read_dir(app.dir.path().join("mail"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "two asks written");
    let web = app.sign_in_as(&admin).await;
    assert!(web.page("/").await.contains("href=\"/mailbox\""));

    // Act
    let list = web.page("/mailbox").await;

    // Assert: both asks, and one shown with headers and clickable links.
    let mails = ids(&list, "/mailbox/");
    assert_eq!(mails.len(), 2, "{list}");
    assert!(list.contains("tom@target.example") && list.contains("rita@requester.example"));
    let mut decision_links = Vec::new();
    for id in &mails {
        let page = web.page(&format!("/mailbox/{id}")).await;
        assert!(page.contains("<dt>From</dt>") && page.contains("<dt>Subject</dt>"));
        assert!(page.contains(&format!("href=\"/intros/{intro}\"")));
        let start = page
            .find("<a href=\"http://127.0.0.1")
            .expect("a clickable link");
        let href = page[start + 9..].split('"').next().unwrap().to_string();
        if href.contains("/o/") {
            decision_links.push(href.replace("&amp;", "&"));
        }
    }
    assert_eq!(decision_links.len(), 2);
    // The link works: it opens the party's decision page.
    let decision = app.open(&decision_links[0]).await;
    assert_eq!(decision.status(), 200);

    // Another connector's email is not found, and their mailbox is empty.
    let connie = app.sign_in().await;
    assert_eq!(
        connie.get(&format!("/mailbox/{}", mails[0])).await.status(),
        404
    );
    assert!(ids(&connie.page("/mailbox").await, "/mailbox/").is_empty());
    assert_eq!(web.get("/mailbox/not-an-id").await.status(), 404);

    // A connector who is not the administrator sees their own mail, but not
    // the private links in it: they cannot answer for anyone.
    let mut body = intro_body("parallel");
    body["requester"]["email"] = "remi@requester.example".into();
    body["target"]["email"] = "tess@target.example".into();
    app.propose(&body).await;
    app.settle().await;
    let theirs = ids(&connie.page("/mailbox").await, "/mailbox/");
    assert_eq!(theirs.len(), 2);
    for id in &theirs {
        let page = connie.page(&format!("/mailbox/{id}")).await;
        assert!(page.contains("<dt>Subject</dt>"));
        assert!(
            !page.contains("/o/") && !page.contains("/u/") && !page.contains("/p/"),
            "{page}"
        );
        assert!(page.contains("their private link"));
    }
}

#[tokio::test]
async fn without_mail_files_there_is_no_mailbox() {
    let app = spawn_app().await;
    let web = app.sign_in().await;
    assert!(!web.page("/").await.contains("href=\"/mailbox\""));
    assert_eq!(web.get("/mailbox").await.status(), 404);
}

#[tokio::test]
async fn the_migration_makes_contacts_of_everyone_already_in_an_intro() {
    use sqlx::Row;
    // Arrange: a database at the schema before contacts, with intros.
    let dir = tempfile::tempdir().unwrap();
    let (mut conn, rest) = database_before_migration(dir.path(), "20261126000004").await;
    let setup = "
        insert into connectors (connector_id, email, email_key, name, is_admin, created_at) values
            ('c1', 'c1@x.example', 'c1@x.example', 'One', 0, 1), ('c2', 'c2@x.example', 'c2@x.example', 'Two', 0, 1);
        insert into intros (intro_id, connector_id, mode, status, reason, topic, created_at, updated_at) values
            ('i1', 'c1', 'parallel', 'asking', 'r', 't', 1000, 1000),
            ('i2', 'c1', 'parallel', 'asking', 'r', 't', 2000, 2000),
            ('i3', 'c2', 'parallel', 'asking', 'r', 't', 1500, 1500);
        insert into parties (intro_id, role, name, email, email_key, consent, ask_count, reminded, has_snoozed, created_at) values
            ('i1', 'requester', 'Ann Old', 'ann@x.example', 'ann@x.example', 'asked', 0, 0, 0, 1000),
            ('i1', 'target', 'Tom', 'tom@y.example', 'tom@y.example', 'asked', 0, 0, 0, 1000),
            ('i2', 'requester', 'Ann New', 'ANN@x.example', 'ann@x.example', 'asked', 0, 0, 0, 2000),
            ('i2', 'target', 'Bob', 'bob@z.example', 'bob@z.example', 'asked', 0, 0, 0, 2000),
            ('i3', 'requester', 'Ann Other', 'ann@x.example', 'ann@x.example', 'asked', 0, 0, 0, 1500),
            ('i3', 'target', 'Tom', 'tom@y.example', 'tom@y.example', 'asked', 0, 0, 0, 1500);";
    sqlx::raw_sql(setup).execute(&mut conn).await.unwrap();

    // Act
    let contacts = rest
        .into_iter()
        .find(|p| p.to_str().unwrap().ends_with("_contacts.sql"))
        .unwrap();
    run_migration(&mut conn, &contacts).await;

    // Assert: one contact per connector and address, named as in the latest intro.
    let rows = sqlx::query(
        "select connector_id, name, email_key, last_used_at from contacts order by connector_id, email_key",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let got: Vec<(String, String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.get("connector_id"),
                r.get("name"),
                r.get("email_key"),
                r.get("last_used_at"),
            )
        })
        .collect();
    let want = [
        ("c1", "Ann New", "ann@x.example", 2000),
        ("c1", "Bob", "bob@z.example", 2000),
        ("c1", "Tom", "tom@y.example", 1000),
        ("c2", "Ann Other", "ann@x.example", 1500),
        ("c2", "Tom", "tom@y.example", 1500),
    ]
    .map(|(c, n, e, t)| (c.to_string(), n.to_string(), e.to_string(), t));
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_import_whose_process_died_goes_on_from_its_last_batch() {
    use twoyes::domain::{EmailAddress, PersonName};
    use twoyes::store::{ContactText, ImportRow};
    // Arrange: a job of two rows, the first committed, then no progress.
    let app = spawn_app().await;
    let text = "name,email\nAnn Lee,ann@example.com\nBo Yi,bo@example.com\n";
    let id = app
        .store
        .create_import(
            &app.connector.id,
            "crashed.csv",
            text,
            2,
            START,
            START.plus(MINUTE),
        )
        .await
        .unwrap();
    let first = ImportRow::Valid {
        line: 2,
        name: PersonName::parse("Ann Lee").unwrap(),
        email: EmailAddress::parse("ann@example.com").unwrap(),
        how_known: ContactText::default(),
        notes: ContactText::default(),
    };
    let saved = app
        .store
        .save_import_batch(
            &id,
            0,
            std::slice::from_ref(&first),
            START,
            START.plus(MINUTE),
        )
        .await
        .unwrap();
    assert!(saved);
    // A stale runner cannot commit the same batch twice.
    let again = app
        .store
        .save_import_batch(&id, 0, &[first], START, START.plus(MINUTE))
        .await
        .unwrap();
    assert!(!again);
    let web = app.sign_in().await;
    let path = format!("/contacts/import/{id}");
    let page = web.page(&path).await;
    assert!(
        page.contains("data-status=\"running\""),
        "still leased: {page}"
    );

    // Act: the lease runs out; the page takes the job over.
    app.clock.advance(2 * MINUTE);
    let page = wait_for_import(&web, &path).await;

    // Assert
    assert!(page.contains("<strong id=\"added\">2</strong>"), "{page}");
    assert!(page.contains("<strong id=\"failed\">0</strong>"), "{page}");
    let list = web.page("/contacts").await;
    assert_eq!(list.matches("ann@example.com").count(), 1);
    assert!(list.contains("Bo Yi"));
}
