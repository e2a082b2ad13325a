//! Reading an uploaded contacts CSV: a header row naming the columns (common
//! variants accepted: "Name", "Full name", "First name" + "Last name",
//! "Email", "E-mail", "How known", "Notes"...), then one contact per record.
//! Quoted fields may hold commas, quotes and line breaks; a UTF-8 byte order
//! mark is ignored; `;` and tab separators are recognised from the header.

use crate::domain::{EmailAddress, PersonName};
use crate::store::{ContactText, ImportRow};

/// Where each field is in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    name: Option<usize>,
    first: Option<usize>,
    last: Option<usize>,
    email: usize,
    how_known: Option<usize>,
    notes: Option<usize>,
}

/// The text of an upload, or why it cannot be imported at all.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| {
        "The file is not UTF-8 text. Save it as “CSV UTF-8” (comma separated) and upload it again."
            .to_string()
    })?;
    if text.contains('\0') {
        return Err("The file holds binary data; it does not look like a CSV file.".into());
    }
    Ok(text.to_string())
}

fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let count = |c: char| header.matches(c).count();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| (count(char::from(*d)), *d == b','))
        .unwrap_or(b',')
}

fn reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes())
}

/// "E-mail Address" → "emailaddress".
fn key(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn columns(headers: &csv::StringRecord) -> Result<Columns, String> {
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&key(h).as_str()))
    };
    let email = find(&["email", "emailaddress", "mail", "emailaddr", "mailaddress"]);
    let name = find(&["name", "fullname", "displayname", "contactname", "contact"]);
    let first = find(&["firstname", "givenname", "first", "forename"]);
    let last = find(&["lastname", "surname", "familyname", "last"]);
    let found = || {
        headers
            .iter()
            .map(|h| format!("“{}”", h.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(email) = email else {
        return Err(format!(
            "The first row must name the columns, with one called “email” (found {}).",
            found()
        ));
    };
    if name.is_none() && first.is_none() && last.is_none() {
        return Err(format!(
            "The first row must name the columns, with one called “name” (found {}).",
            found()
        ));
    }
    Ok(Columns {
        name,
        first,
        last,
        email,
        how_known: find(&[
            "howknown",
            "howyouknowthem",
            "howiknowthem",
            "howweknoweachother",
            "howwemet",
            "context",
            "relationship",
            "source",
        ]),
        notes: find(&["notes", "note", "comments", "comment", "remarks"]),
    })
}

/// The contact rows of `text`, in order; blank records are left out.
pub fn rows(text: &str) -> Result<impl Iterator<Item = ImportRow> + Send + '_, String> {
    let mut reader = reader(text);
    let headers = reader
        .headers()
        .map_err(|e| format!("The first row could not be read: {e}"))?
        .clone();
    let columns = columns(&headers)?;
    let mut lines = LineCounter::default();
    Ok(reader
        .into_records()
        .filter_map(move |record| match record {
            Ok(record) => {
                if record.iter().all(|f| f.trim().is_empty()) {
                    return None;
                }
                let line = lines.at(text, record.position().map(|p| p.byte()));
                Some(row(&columns, &record, line))
            }
            Err(e) => Some(ImportRow::Invalid {
                line: lines.at(text, e.position().map(|p| p.byte())),
                message: format!("not readable as CSV: {e}"),
            }),
        }))
}

/// The line a record starts on, from where the reader stood before it
/// (which can be before the line break ending the previous record, or
/// before blank lines). Records come in order, so counting is incremental.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    newlines: u64,
}

impl LineCounter {
    fn at(&mut self, text: &str, from: Option<u64>) -> u64 {
        let bytes = text.as_bytes();
        let mut start = from
            .and_then(|b| usize::try_from(b).ok())
            .unwrap_or(self.byte)
            .clamp(self.byte, bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        self.newlines += bytes[self.byte..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.byte = start;
        self.newlines + 1
    }
}

/// How many contact rows `text` has, or why it cannot be imported.
pub fn count(text: &str) -> Result<usize, String> {
    let n = rows(text)?.count();
    if n == 0 {
        return Err("The file has no contacts below its header row.".into());
    }
    Ok(n)
}

fn row(columns: &Columns, record: &csv::StringRecord, line: u64) -> ImportRow {
    let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
    let name = match field(columns.name) {
        "" => format!("{} {}", field(columns.first), field(columns.last))
            .trim()
            .to_string(),
        name => name.to_string(),
    };
    let mut problems = Vec::new();
    let name = if name.is_empty() {
        problems.push("missing name".to_string());
        None
    } else {
        PersonName::parse(&name)
            .map_err(|e| problems.push(format!("bad name: {e}")))
            .ok()
    };
    let email = match field(Some(columns.email)) {
        "" => {
            problems.push("missing email".to_string());
            None
        }
        email => EmailAddress::parse(email)
            .map_err(|e| problems.push(format!("bad email: {e}")))
            .ok(),
    };
    let how_known = ContactText::how_known(field(columns.how_known))
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    let notes = ContactText::notes(field(columns.notes))
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    match (name, email, how_known, notes) {
        (Some(name), Some(email), Some(how_known), Some(notes)) if problems.is_empty() => {
            ImportRow::Valid {
                line,
                name,
                email,
                how_known,
                notes,
            }
        }
        _ => ImportRow::Invalid {
            line,
            message: problems.join("; "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<ImportRow> {
        rows(&decode(text.as_bytes()).unwrap()).unwrap().collect()
    }

    #[test]
    fn reads_quoted_fields_with_commas_and_newlines_after_a_bom() {
        let rows = parse(
            "\u{feff}Name,E-mail,How known,Notes\r\n\"Lovelace, Ada\",ada@example.com,\"met at, the \"\"club\"\"\",\"two\nlines\"\r\n\r\nBob,bob@example.org,,\n",
        );
        assert_eq!(rows.len(), 2);
        match &rows[0] {
            ImportRow::Valid {
                line,
                name,
                email,
                how_known,
                notes,
            } => {
                assert_eq!(*line, 2);
                assert_eq!(name.as_str(), "Lovelace, Ada");
                assert_eq!(email.as_str(), "ada@example.com");
                assert_eq!(how_known.as_str(), "met at, the \"club\"");
                assert_eq!(notes.as_str(), "two\nlines");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&rows[1], ImportRow::Valid { line: 5, .. }),
            "{:?}",
            rows[1]
        );
    }

    #[test]
    fn reports_each_bad_row_with_its_line() {
        let rows = parse("email;first name;last name\nnot-an-email;Ann;Lee\nx@example.com;;\n");
        let messages: Vec<(u64, String)> = rows
            .iter()
            .map(|r| match r {
                ImportRow::Invalid { line, message } => (*line, message.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(messages[0].0, 2);
        assert!(messages[0].1.starts_with("bad email"), "{}", messages[0].1);
        assert_eq!(messages[1], (3, "missing name".to_string()));
    }

    #[test]
    fn refuses_files_it_cannot_read() {
        assert!(decode(b"\xff\xfe n").is_err());
        assert!(
            count("name,phone\nAnn,123\n")
                .unwrap_err()
                .contains("email")
        );
        assert!(
            count("email,phone\na@b.co,1\n")
                .unwrap_err()
                .contains("name")
        );
        assert!(count("name,email\n").is_err());
        assert_eq!(count("Name,Email\nAnn,a@b.co\n,\n").unwrap(), 1);
    }
}
