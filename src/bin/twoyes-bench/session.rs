//! Acting as the people twoyes serves: a party follows the link in their
//! email; the connector signs in to the web app.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};

use crate::load;

/// The token of every decision link (`/o/{token}`) in the delivered emails.
pub fn decision_tokens(messages: &[Vec<u8>]) -> anyhow::Result<Vec<String>> {
    let parser = mail_parser::MessageParser::default();
    let mut tokens = Vec::with_capacity(messages.len());
    for raw in messages {
        let message = parser.parse(raw).context("an email could not be parsed")?;
        let text = message.body_text(0).context("an email has no text part")?;
        if let Some(at) = text.find("/o/") {
            let token: String = text[at + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            tokens.push(token);
        }
    }
    if tokens.is_empty() {
        bail!("no decision link in {} emails", messages.len());
    }
    Ok(tokens)
}

/// Signs in through the login form as a browser would and returns the
/// `Cookie` header value that carries the session.
pub async fn sign_in(addr: SocketAddr, email: &str, password: &str) -> anyhow::Result<String> {
    let page = load::once(addr, &load::get("/login", "")).await?;
    let form_cookie = cookies(&page).context("the login page set no form cookie")?;
    let body = String::from_utf8_lossy(&page.body);
    let csrf = hidden_value(&body, "csrf").context("the login page has no csrf field")?;
    let form = serde_urlencoded::to_string([
        ("csrf", csrf.as_str()),
        ("email", email),
        ("password", password),
    ])?;
    let answer = load::once(
        addr,
        &load::post(
            "/login",
            "application/x-www-form-urlencoded",
            &format!("Cookie: {form_cookie}\r\n"),
            &form,
        ),
    )
    .await?;
    if answer.status != 303 {
        bail!("signing in answered {}", answer.status);
    }
    cookies(&answer).context("signing in set no session cookie")
}

/// Every `Set-Cookie` of a response as one `Cookie` header value.
fn cookies(response: &load::Response) -> Option<String> {
    let pairs: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next())
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_fields_are_read_from_the_form() {
        let html = r#"<input type="hidden" name="csrf" value="abc123"><input name="email">"#;
        assert_eq!(hidden_value(html, "csrf").as_deref(), Some("abc123"));
        assert_eq!(hidden_value(html, "next"), None);
    }
}
