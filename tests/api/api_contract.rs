//! The JSON API's contract (SPEC §5): every bad input is a JSON error with a
//! fitting status that writes nothing, tokens guard every route, a connector
//! sees only their own intros, lists page with a cursor, and the operator
//! routes answer.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use twoyes::domain::{EmailAddress, PersonName};
use twoyes::store::{IntroFilter, NewConnector};

use super::helpers::*;

/// A request body and what the API must answer to it.
struct Case {
    what: &'static str,
    body: Value,
    field: &'static str,
}

/// The intro body with one JSON pointer replaced (or removed, for `None`).
fn with(pointer: &str, value: Option<Value>) -> Value {
    let mut body = intro_body("target_first");
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let slot = body
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("the parent is an object");
    match value {
        Some(v) => slot.insert(key.to_string(), v),
        None => slot.remove(key),
    };
    body
}

/// Field values the domain refuses: each must be a 422 naming the field.
#[rustfmt::skip]
fn invalid_field_cases() -> Vec<Case> {
    let long = |n: usize| json!("x".repeat(n));
    let case = |what, pointer: &str, value: Value, field| Case { what, body: with(pointer, Some(value)), field };
    let mut opted_in_without_blurb = with("/requester/blurb", None);
    opted_in_without_blurb["requester_opted_in"] = json!(true);
    vec![
        case("empty requester name", "/requester/name", json!(""), "requester.name"),
        case("blank target name", "/target/name", json!("   "), "target.name"),
        case("name of 101 characters", "/requester/name", long(101), "requester.name"),
        case("name with CR LF", "/requester/name", json!("Rita\r\nBcc: x@evil.example"), "requester.name"),
        case("name with LF", "/target/name", json!("Tom\nTarget"), "target.name"),
        case("name with a tab", "/target/name", json!("Tom\tTarget"), "target.name"),
        case("name with angle brackets", "/target/name", json!("<b>Tom</b>"), "target.name"),
        case("email without @", "/requester/email", json!("rita.requester.example"), "requester.email"),
        case("email without a dotted domain", "/target/email", json!("tom@localhost"), "target.email"),
        case("empty email", "/target/email", json!(""), "target.email"),
        case("email with CR LF", "/target/email", json!("tom@target.example\r\nBcc: x@evil.example"), "target.email"),
        case("email with a display name", "/target/email", json!("Tom <tom@target.example>"), "target.email"),
        case("same email for both", "/target/email", json!("RITA@Requester.example"), "target.email"),
        case("empty reason", "/reason", json!(""), "reason"),
        case("blank reason", "/reason", json!(" \n "), "reason"),
        case("reason of 2001 characters", "/reason", long(2001), "reason"),
        case("reason with a control character", "/reason", json!("ring\u{7}ring"), "reason"),
        case("blurb of 1201 characters", "/requester/blurb", long(1201), "requester.blurb"),
        case("note of 1001 characters", "/note", long(1001), "note"),
        case("note with a control character", "/note", json!("esc\u{1b}[2J"), "note"),
        case("topic of 81 characters", "/topic", long(81), "topic"),
        case("topic with CR LF", "/topic", json!("soil\r\nBcc: x@evil.example"), "topic"),
        case("unknown mode", "/mode", json!("sideways"), "mode"),
        Case { what: "requester_opted_in without a blurb", body: opted_in_without_blurb, field: "requester.blurb" },
    ]
}

/// Bodies of the wrong shape: missing, unknown or mistyped fields.
#[rustfmt::skip]
fn shape_cases() -> Vec<Case> {
    let case = |what, body, field| Case { what, body, field };
    vec![
        case("missing requester name", with("/requester/name", None), "requester.name"),
        case("missing target email", with("/target/email", None), "target.email"),
        case("missing target", with("/target", None), "target"),
        case("missing reason", with("/reason", None), "reason"),
        case("unknown top-level field", with("/cc", Some(json!("x@y.example"))), "cc"),
        case("unknown party field", with("/target/blurb", Some(json!("hi"))), "target.blurb"),
        case("reason as a number", with("/reason", Some(json!(5))), "reason"),
        case("requester as a string", with("/requester", Some(json!("Rita <rita@requester.example>"))), "requester"),
        case("requester_opted_in as a string", with("/requester_opted_in", Some(json!("yes"))), "requester_opted_in"),
        case("mode as a list", with("/mode", Some(json!(["parallel"]))), "mode"),
        case("target email as null", with("/target/email", Some(Value::Null)), "target.email"),
    ]
}

/// Reads an API error and checks its shape; returns (code, field, message).
async fn api_error(response: reqwest::Response) -> (u16, String, Option<String>, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("a body");
    assert!(
        content_type.starts_with("application/json"),
        "{status} is not JSON ({content_type}): {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON error");
    let error = &body["error"];
    let code = error["code"].as_str().unwrap_or_default().to_string();
    let message = error["message"].as_str().unwrap_or_default().to_string();
    assert!(!code.is_empty(), "no error.code in {text}");
    assert!(!message.is_empty(), "no error.message in {text}");
    let field = error["field"].as_str().map(str::to_string);
    (status, code, field, message)
}

/// Nothing reached the database or the outbox.
async fn assert_nothing_written(app: &TestApp, what: &str) {
    let all = app
        .store
        .list_intros(&IntroFilter {
            limit: 10,
            ..IntroFilter::default()
        })
        .await
        .expect("list");
    assert!(all.is_empty(), "{what}: an intro was stored");
    let listed = list_page(app, &app.api_token, "").await;
    assert_eq!(listed["items"], json!([]), "{what}: the list is not empty");
    app.settle().await;
    assert!(app.mail.messages().is_empty(), "{what}: an email was sent");
}

async fn list_page(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .client
        .get(app.api(&format!("/intros{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200, "GET /intros{query}");
    response.json().await.expect("JSON")
}

async fn add_other_connector(app: &TestApp) -> String {
    let other = app
        .store
        .add_connector(
            NewConnector {
                email: EmailAddress::parse("otto@other.example").unwrap(),
                name: PersonName::parse("Otto Other").unwrap(),
                handle: None,
                is_admin: false,
            },
            START,
        )
        .await
        .expect("connector");
    add_token(&app.store, &other).await
}

/// A body for the n-th of several intros: distinct people each time.
fn nth_body(n: usize) -> Value {
    let mut body = intro_body("target_first");
    body["requester"]["email"] = json!(format!("rita{n}@requester.example"));
    body["target"]["email"] = json!(format!("tom{n}@target.example"));
    body
}

#[tokio::test]
async fn every_invalid_field_is_a_422_naming_it_and_writes_nothing() {
    let app = spawn_app().await;
    for case in invalid_field_cases() {
        let response = app.post_intro(&case.body).await;
        let (status, code, field, message) = api_error(response).await;
        assert_eq!(status, 422, "{}: {message}", case.what);
        assert_eq!(code, "invalid_field", "{}", case.what);
        assert_eq!(
            field.as_deref(),
            Some(case.field),
            "{}: {message}",
            case.what
        );
        assert!(
            !message.contains('\r') && !message.contains('\u{1b}'),
            "{}: the message echoes control characters: {message:?}",
            case.what
        );
        assert_nothing_written(&app, case.what).await;
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_a_422_and_writes_nothing() {
    let app = spawn_app().await;
    for case in shape_cases() {
        let response = app.post_intro(&case.body).await;
        let (status, code, _, message) = api_error(response).await;
        assert_eq!(status, 422, "{}: {message}", case.what);
        assert_eq!(code, "invalid_field", "{}", case.what);
        assert_nothing_written(&app, case.what).await;
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_names_the_field_at_fault() {
    let app = spawn_app().await;
    for case in shape_cases() {
        let response = app.post_intro(&case.body).await;
        let (status, _, field, message) = api_error(response).await;
        assert_eq!(status, 422, "{}: {message}", case.what);
        assert_eq!(
            field.as_deref(),
            Some(case.field),
            "{}: {message}",
            case.what
        );
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_and_writes_nothing() {
    let app = spawn_app().await;
    let valid = serde_json::to_string(&intro_body("target_first")).unwrap();
    let cases: Vec<(&str, Option<&str>, String)> = vec![
        (
            "form-encoded body",
            Some("application/json"),
            "requester=Rita&target=Tom".into(),
        ),
        (
            "truncated JSON",
            Some("application/json"),
            valid[..valid.len() / 2].to_string(),
        ),
        ("empty body", Some("application/json"), String::new()),
        (
            "JSON with a trailing comma",
            Some("application/json"),
            valid.replace('}', ",}"),
        ),
        ("no content type", None, valid.clone()),
        ("text/plain content type", Some("text/plain"), valid.clone()),
        (
            "form content type",
            Some("application/x-www-form-urlencoded"),
            valid.clone(),
        ),
    ];
    for (what, content_type, body) in cases {
        let mut request = app
            .client
            .post(app.api("/intros"))
            .bearer_auth(&app.api_token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = request.send().await.expect("POST");
        let (status, code, _, message) = api_error(response).await;
        assert_eq!(status, 400, "{what}: {message}");
        assert_eq!(code, "malformed", "{what}");
        assert_nothing_written(&app, what).await;
    }
}

#[tokio::test]
async fn a_valid_body_is_accepted_after_all_the_refusals() {
    // The refusals above must not be refusing everything.
    let app = spawn_app().await;
    let response = app.post_intro(&intro_body("parallel")).await;
    assert_eq!(response.status(), 201);
    let intro: Value = response.json().await.unwrap();
    assert_eq!(intro["status"], "asking");
    assert_eq!(intro["mode"], "parallel");
    assert_eq!(intro["parties"]["requester"]["email"], RITA);
    assert_eq!(intro["parties"]["target"]["name"], "Tom Target");
    assert!(intro["created_at"].is_string());
}

#[tokio::test]
async fn a_missing_or_bad_token_is_a_401_on_every_route() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let unknown = twoyes::domain::Token::generate().expose();
    let authorizations: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("unknown token", Some(format!("Bearer {unknown}"))),
        ("short token", Some("Bearer abc".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("scheme only", Some("Bearer".into())),
        ("token without scheme", Some(app.api_token.clone())),
        ("basic auth", Some("Basic Y29ubmllOnNlY3JldA==".into())),
        (
            "two tokens",
            Some(format!("Bearer {} {}", app.api_token, app.api_token)),
        ),
    ];
    let routes = [
        ("POST", "/intros".to_string()),
        ("GET", "/intros".to_string()),
        ("GET", format!("/intros/{id}")),
        ("POST", format!("/intros/{id}/cancel")),
    ];
    for (what, authorization) in &authorizations {
        for (method, path) in &routes {
            let mut request = match *method {
                "POST" => app.client.post(app.api(path)).json(&nth_body(9)),
                _ => app.client.get(app.api(path)),
            };
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request.send().await.expect("request");
            let (status, code, _, _) = api_error(response).await;
            assert_eq!(status, 401, "{what}: {method} {path}");
            assert_eq!(code, "unauthorized", "{what}: {method} {path}");
        }
    }
    assert_eq!(app.status(&id).await, "asking", "no cancel got through");
    let all = list_page(&app, &app.api_token, "").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "no create got through"
    );
}

#[tokio::test]
async fn the_owner_reads_an_intro_and_nobody_else_can_tell_it_exists() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let other = add_other_connector(&app).await;

    let mine = app.intro(&id).await;
    assert_eq!(mine["id"], id.as_str());
    assert_eq!(mine["parties"]["target"]["consent"], "asked");

    let get = |token: String, path: String| {
        let client = app.client.clone();
        let url = app.api(&path);
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let theirs = get(other.clone(), format!("/intros/{id}")).await;
    let (status, code, _, _) = api_error(theirs).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    // Absent looks exactly like not-yours.
    let absent = uuid::Uuid::now_v7().to_string();
    let (status, code, _, _) =
        api_error(get(app.api_token.clone(), format!("/intros/{absent}")).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let bad_ids = ["not-a-uuid", "1", "%20", "..%2F..%2Fmetrics"]
        .map(String::from)
        .into_iter()
        .chain([format!("{id}x")]);
    for bad_id in bad_ids {
        let (status, _, _, _) =
            api_error(get(app.api_token.clone(), format!("/intros/{bad_id}")).await).await;
        assert_eq!(status, 404, "GET /intros/{bad_id}");
    }

    let cancel = app
        .client
        .post(app.api(&format!("/intros/{id}/cancel")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    let (status, code, _, _) = api_error(cancel).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    for bad_id in ["not-a-uuid".to_string(), absent] {
        let cancel = app
            .client
            .post(app.api(&format!("/intros/{bad_id}/cancel")))
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap();
        assert_eq!(api_error(cancel).await.0, 404, "cancel {bad_id}");
    }
    assert_eq!(
        app.status(&id).await,
        "asking",
        "the other connector's cancel did nothing"
    );

    let their_list = list_page(&app, &other, "").await;
    assert_eq!(their_list["items"], json!([]));
    assert_eq!(their_list["next_cursor"], Value::Null);

    // Nor does the owner see the other connector's intros.
    let theirs = app.post_intro_as(&other, &nth_body(2)).await;
    assert_eq!(theirs.status(), 201);
    let their_id = theirs.json::<Value>().await.unwrap()["id"].clone();
    let my_list = list_page(&app, &app.api_token, "").await;
    let my_ids: Vec<&Value> = my_list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(my_ids, vec![&json!(id)]);
    assert!(!my_ids.contains(&&their_id));
}

#[tokio::test]
async fn pages_follow_the_cursor_newest_first_with_every_intro_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(app.propose(&nth_body(n)).await);
        app.clock.advance(MINUTE);
    }

    let mut seen: Vec<Value> = Vec::new();
    let mut query = "?limit=3".to_string();
    let mut pages = 0;
    loop {
        let page = list_page(&app, &app.api_token, &query).await;
        pages += 1;
        assert!(pages <= 3, "more pages than 7 intros at 3 a page need");
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= 3);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let ids: Vec<String> = seen
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(ids, newest_first, "every intro exactly once, newest first");
    let times: Vec<&str> = seen
        .iter()
        .map(|i| i["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");

    // The default page holds them all and has no cursor.
    let all = list_page(&app, &app.api_token, "").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 7);
    assert_eq!(all["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_status_filter_lists_only_intros_in_that_status() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(app.propose(&nth_body(n)).await);
    }
    for id in &created[..2] {
        let response = app
            .client
            .post(app.api(&format!("/intros/{id}/cancel")))
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let ids = |page: &Value| -> Vec<String> {
        let mut ids: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let mut cancelled = created[..2].to_vec();
    cancelled.sort();
    let mut asking = created[2..].to_vec();
    asking.sort();
    assert_eq!(
        ids(&list_page(&app, &app.api_token, "?status=cancelled").await),
        cancelled
    );
    assert_eq!(
        ids(&list_page(&app, &app.api_token, "?status=asking").await),
        asking
    );
    assert_eq!(
        ids(&list_page(&app, &app.api_token, "?status=introduced").await),
        Vec::<String>::new()
    );
    let page = list_page(&app, &app.api_token, "?status=asking&limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a cursor").to_string();
    let rest = list_page(
        &app,
        &app.api_token,
        &format!("?status=asking&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(
        rest["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "asking")
    );
}

#[tokio::test]
async fn bad_list_parameters_are_a_422_naming_the_parameter() {
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    let cases = [
        ("?status=nope", "status"),
        ("?status=ASKING", "status"),
        ("?limit=0", "limit"),
        ("?limit=1000", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=three", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=1", "cursor"),
    ];
    for (query, field) in cases {
        let response = app
            .client
            .get(app.api(&format!("/intros{query}")))
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap();
        let (status, code, named, message) = api_error(response).await;
        assert_eq!(status, 422, "{query}: {message}");
        assert_eq!(code, "invalid_field", "{query}");
        assert_eq!(named.as_deref(), Some(field), "{query}");
    }
}

#[tokio::test]
async fn cancelling_twice_is_a_409_because_the_intro_is_final() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let cancel = || {
        app.client
            .post(app.api(&format!("/intros/{id}/cancel")))
            .bearer_auth(&app.api_token)
            .send()
    };
    let first = cancel().await.unwrap();
    assert_eq!(first.status(), 200);
    let intro: Value = first.json().await.unwrap();
    assert_eq!(intro["status"], "cancelled");
    assert!(intro["closed_at"].is_string());

    let (status, code, _, message) = api_error(cancel().await.unwrap()).await;
    assert_eq!(status, 409, "{message}");
    assert_eq!(code, "intro_final");
    assert_eq!(app.status(&id).await, "cancelled");
}

/// Every `$ref` in the document must point at something in it.
fn dangling_refs(doc: &Value, node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.trim_start_matches('#');
                if doc.pointer(pointer).is_none() {
                    out.push(target.clone());
                }
            }
            map.values().for_each(|v| dangling_refs(doc, v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| dangling_refs(doc, v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = serde_json::from_str(&response.text().await.unwrap()).expect("valid JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let mut dangling = Vec::new();
    dangling_refs(&doc, &doc, &mut dangling);
    assert!(dangling.is_empty(), "unresolved $refs: {dangling:?}");

    // The routes the router serves are all in the document ...
    let served = [
        ("post", "/api/v1/intros"),
        ("get", "/api/v1/intros"),
        ("get", "/api/v1/intros/{id}"),
        ("post", "/api/v1/intros/{id}/cancel"),
        ("get", "/api/v1/intros/{id}/consent"),
        ("get", "/api/v1/openapi.json"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in served {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    // ... and every operation in the document is a route the server has.
    let id = app.propose(&intro_body("target_first")).await;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}{}", app.address, path.replace("{id}", &id));
            let request = match method.as_str() {
                "get" => app.client.get(&url),
                "post" => app.client.post(&url).json(&nth_body(1)),
                other => panic!("unexpected method {other} for {path}"),
            };
            let response = request.bearer_auth(&app.api_token).send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(
                status != 404 && status != 405,
                "{method} {path} is documented but answers {status}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn healthz_and_metrics_answer_the_operator() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let first = app.propose(&nth_body(1)).await;
    app.propose(&nth_body(2)).await;
    app.propose(&nth_body(3)).await;
    // The three asks go out before the cancel (a cancel that won the race
    // would leave the first ask unsent, and rightly so).
    app.settle().await;
    let cancel = app
        .client
        .post(app.api(&format!("/intros/{first}/cancel")))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    app.settle().await;
    let sent = app.mail.messages().len();

    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    let value = |name: &str| -> Option<String> {
        text.lines()
            .find(|l| l.split_once(' ').is_some_and(|(k, _)| k == name))
            .map(|l| l.rsplit_once(' ').unwrap().1.to_string())
    };
    assert_eq!(
        value("twoyes_intros{status=\"asking\"}").as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        value("twoyes_intros{status=\"cancelled\"}").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        value("twoyes_intros{status=\"introduced\"}").as_deref(),
        Some("0"),
        "{text}"
    );
    assert_eq!(value("twoyes_outbox_depth").as_deref(), Some("0"), "{text}");
    assert_eq!(
        value("twoyes_emails_sent_total"),
        Some(sent.to_string()),
        "{text}"
    );
    assert!(sent >= 3, "three asks went out");
}

#[tokio::test]
async fn an_unknown_api_route_is_a_404_json_error() {
    let app = spawn_app().await;
    for path in ["/nope", "/intros/extra/deep/path", "/v2/intros", ""] {
        let response = app
            .client
            .get(app.api(path))
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap();
        let (status, code, _, _) = api_error(response).await;
        assert_eq!(
            (status, code.as_str()),
            (404, "not_found"),
            "GET /api/v1{path}"
        );
    }
    let response = app.client.get(app.api("/nope")).send().await.unwrap();
    assert_eq!(api_error(response).await.0, 404, "also without a token");
}

#[tokio::test]
async fn a_wrong_method_on_an_api_route_is_a_json_error() {
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    for (method, path) in [
        (reqwest::Method::DELETE, "/intros".to_string()),
        (reqwest::Method::PUT, format!("/intros/{id}")),
        (reqwest::Method::GET, format!("/intros/{id}/cancel")),
    ] {
        let response = app
            .client
            .request(method.clone(), app.api(&path))
            .bearer_auth(&app.api_token)
            .send()
            .await
            .unwrap();
        let (status, _, _, _) = api_error(response).await;
        assert_eq!(status, 405, "{method} {path}");
    }
    assert_eq!(app.status(&id).await, "asking");
}
