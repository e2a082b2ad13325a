//! A connector never sees another connector's data (SPEC §6): every web app
//! route that names a record is walked with a second connector's session,
//! and must answer 404 (or 405 for a method it does not have) — never the
//! record. The route list is read from the source, so a new route that
//! names a record cannot be added without being walked here.

use std::collections::BTreeMap;
use std::path::Path;

use twoyes::domain::{EmailAddress, Handle, PersonName};
use twoyes::store::NewConnector;

use super::helpers::*;

/// Every `.route("…")` path under `src/web/app/`.
fn app_routes() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("src/web/app") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for piece in text.split(".route(").skip(1) {
                    if let Some(route) = piece.trim_start().strip_prefix('"') {
                        out.push(route.split('"').next().unwrap_or("").to_string());
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/app"),
        &mut out,
    );
    out.sort();
    out
}

/// Routes whose parameter is a secret or public name, not a record: they
/// answer the same whoever is signed in.
const NOT_RECORDS: &[&str] = &[
    "/setup/{token}",
    "/password/{token}",
    "/r/{handle}",
    "/r/{handle}/sent",
    "/r/confirm/{token}",
    // An email kind: it always edits the signed-in connector's own wording.
    "/settings/wording/{kind}",
];

#[tokio::test]
async fn every_route_that_names_a_record_is_404_for_another_connector() {
    let app = spawn_app_with(Config {
        file_mail: true,
        ..Default::default()
    })
    .await;
    let owner = app
        .store
        .add_connector(
            NewConnector {
                email: EmailAddress::parse("owen@connector.example").unwrap(),
                name: PersonName::parse("Owen Owner").unwrap(),
                handle: Some(Handle::parse("owen").unwrap()),
                is_admin: false,
            },
            app.now(),
        )
        .await
        .unwrap();
    let token = add_token(&app.store, &owner).await;
    let mine = app.sign_in_as(&owner).await;

    // One of each record the owner can have.
    let intro = app.post_intro_as(&token, &intro_body("target_first")).await;
    assert_eq!(intro.status(), 201);
    let intro_id = intro.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.settle().await;
    let mail_id = app.store.outbox_for_intro(&intro_id).await.unwrap()[0]
        .id
        .clone();
    let contacts = mine.page("/contacts").await;
    let contact_id = contacts
        .split("href=\"/contacts/")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|id| !id.starts_with("import"))
        .expect("a contact")
        .to_string();
    let boundary = "----walk";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\nname,email\r\nPia Person,pia@example.com\r\n\r\n--{boundary}--\r\n"
    );
    let upload = mine
        .client
        .post(mine.url(&format!("/contacts/import?csrf={}", mine.csrf)))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 303);
    let import_path = upload.headers()["location"].to_str().unwrap().to_string();
    let import_id = import_path.rsplit('/').next().unwrap().to_string();

    let visitor = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let form = visitor
        .get(format!("{}/r/owen", app.address))
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    let sent = visitor
        .post(format!("{}/r/owen", app.address))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Remy Requester"),
            ("email", "remy@requester.example"),
            ("wants_to_meet", "Tom Target"),
            ("reason", "Tom knows grain farmers."),
            ("blurb", "I run a bakery co-op."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    app.settle().await;
    let confirm = app.wait_for_emails_to("remy@requester.example", 1).await[0].link("/r/confirm/");
    let page = visitor
        .get(&confirm)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let confirmed = visitor
        .post(&confirm)
        .form(&[("csrf", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let inbox = mine.page("/requests").await;
    let request_id = inbox
        .split("href=\"/requests/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a request")
        .to_string();

    let samples: BTreeMap<&str, &str> = [
        ("/intros/", intro_id.as_str()),
        ("/contacts/import/", import_id.as_str()),
        ("/contacts/", contact_id.as_str()),
        ("/requests/", request_id.as_str()),
        ("/mailbox/", mail_id.as_str()),
    ]
    .into_iter()
    .collect();
    let fill = |route: &str| -> String {
        let (prefix, _) = samples
            .iter()
            .filter(|(prefix, _)| route.starts_with(*prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .unwrap_or_else(|| panic!("no sample record for {route}: add one to this test"));
        let id = samples[prefix];
        let start = route.find('{').unwrap();
        let end = route.find('}').unwrap();
        format!("{}{id}{}", &route[..start], &route[end + 1..])
    };

    let stranger = app.sign_in().await;
    let routes: Vec<String> = app_routes()
        .into_iter()
        .filter(|r| r.contains('{') && !NOT_RECORDS.contains(&r.as_str()))
        .collect();
    assert!(routes.len() >= 8, "the walk found the routes: {routes:?}");
    for route in &routes {
        let path = fill(route);
        let get = stranger.get(&path).await.status().as_u16();
        let post = stranger
            .post(&path, &[("action", "send"), ("decision", "approve")])
            .await
            .status()
            .as_u16();
        assert!(
            matches!(get, 404 | 405),
            "{route}: GET {path} answered {get}"
        );
        assert!(
            matches!(post, 404 | 405),
            "{route}: POST {path} answered {post}"
        );
        assert!(
            get == 404 || post == 404,
            "{route}: neither method said 404"
        );
    }
    // Nothing of the owner's changed hands.
    let intro = app.store.intro(&intro_id, None).await.unwrap();
    assert_eq!(intro.status.as_str(), "asking");
    assert!(mine.page("/requests").await.contains(&request_id));
    // The samples were real: the owner reaches every one of those paths.
    for route in &routes {
        let path = fill(route);
        let get = mine.get(&path).await.status().as_u16();
        let post = mine.post(&path, &[]).await.status().as_u16();
        assert!(
            get == 200 || !matches!(post, 404 | 405),
            "{route}: the owner cannot reach {path} (GET {get}, POST {post})"
        );
    }
}

/// Every `.route("…")` path of the API in `src/web/router.rs`.
fn api_routes() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/router.rs"))
            .expect("router source");
    let api = text
        .split("let api = Router::new()")
        .nth(1)
        .expect("the API router block");
    let api = api.split(';').next().unwrap_or("");
    api.split(".route(")
        .skip(1)
        .filter_map(|piece| piece.trim_start().strip_prefix('"'))
        .map(|route| format!("/api/v1{}", route.split('"').next().unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn every_api_route_that_names_an_intro_is_404_for_another_connectors_token() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let other = app.second_connector().await;
    let theirs = add_token(&app.store, &other).await;
    let routes: Vec<String> = api_routes()
        .into_iter()
        .filter(|r| r.contains("{id}"))
        .collect();
    assert!(
        routes.len() >= 3,
        "the walk found the API routes: {routes:?}"
    );
    for route in &routes {
        let url = app.address.clone() + &route.replace("{id}", &id);
        let get = app
            .client
            .get(&url)
            .bearer_auth(&theirs)
            .send()
            .await
            .unwrap();
        let post = app
            .client
            .post(&url)
            .bearer_auth(&theirs)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let (get, post) = (get.status().as_u16(), post.status().as_u16());
        assert!(
            matches!(get, 404 | 405) && matches!(post, 404 | 405),
            "{route}: GET {get}, POST {post}"
        );
        assert!(
            get == 404 || post == 404,
            "{route}: neither method said 404"
        );
        // The owner's token reaches it.
        let own = app
            .client
            .get(&url)
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let own_post = app
            .client
            .post(&url)
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(
            own == 200 || own_post != 404 && own_post != 405,
            "{route}: owner GET {own}, POST {own_post}"
        );
    }
    // Listing never shows another connector's intros either.
    let list: serde_json::Value = app
        .client
        .get(app.api("/intros"))
        .bearer_auth(&theirs)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}
