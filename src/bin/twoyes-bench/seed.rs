//! Seeding: years of closed intros written straight into the database with
//! set-based SQL, so that a million take seconds rather than the hours the
//! app's row-by-row writes would. Every row is what twoyes itself leaves once
//! an intro closes: valid names, addresses and enum values, consents that
//! agree with the status, nothing due (no `intro_due` row: the worker finds
//! nothing to do), and the terms `store::rows::search_terms` makes.
//!
//! Speed comes from writing each table in its key order: B-tree appends,
//! never a random insert or a big sort. So a party's name depends only on
//! `i % 1961` (37 first names × 53 last names), and the search terms are
//! generated term by term from a vocabulary sorted here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

/// One plain ASCII word each, so SQL needs no `lower()` and the words are
/// exactly what `search_terms` splits.
const FIRST: [&str; 37] = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "Tim", "Sophie", "John", "Hedy", "Donald", "Kay", "Claude", "Annie", "Niklaus",
    "Shafi", "Leslie", "Jean", "Robin", "Carol", "Fernando", "Mary", "Vint", "Karen", "Guido",
    "Elena", "Yukihiro", "Priya", "Omar", "Ingrid", "Mateo", "Chloe",
];
const LAST: [&str; 53] = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Ruiz-Lee", "Wilson", "McCarthy", "Lamarr", "Knuth", "Johnson",
    "Shannon", "Easley", "Wirth", "Goldberg", "Lamport", "Sammet", "Milner", "Shaw", "Corbato",
    "Jackson", "Cerf", "Jones", "Rossum", "Garcia", "Matsuda", "Patel", "Haddad", "Larsen",
    "Rossi", "Martin", "Okafor", "Nguyen", "Kowalski", "Silva", "Schmidt", "Dubois", "Moreau",
    "Novak", "Tanaka", "Kim", "Cohen", "Murphy", "Fischer", "Andersen", "Costa", "Ahmed",
];
/// Lower case, as `EmailAddress::parse` leaves a domain.
const DOMAINS: [&str; 7] = [
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "studio.example",
    "lab.example.org",
    "uni.example.edu",
];
/// (reason, topic): the topic is what `Topic::from_reason` would make.
const REASONS: [(&str, &str); 5] = [
    (
        "You both build tools for small farms.\nI think you would enjoy comparing notes.",
        "You both build tools for small farms",
    ),
    (
        "One of you is hiring a data engineer and the other is looking.",
        "One of you is hiring a data engineer and the other is looking",
    ),
    (
        "You are both moving to Lisbon this spring.",
        "You are both moving to Lisbon this spring",
    ),
    (
        "Same problem, different industries: scheduling nurses and scheduling trains.",
        "Same problem, different industries: scheduling nurses and…",
    ),
    (
        "You asked me for someone who knows grant writing; this is the person.",
        "You asked me for someone who knows grant writing; this is the person",
    ),
];
const PEOPLE: usize = 37 * 53;
const DAY: i64 = 86_400_000;
/// The default undo window: a decision takes effect this long after it is made.
const UNDO: i64 = 600_000;

/// Fills the database with `count` closed intros of `connector_id` (each with
/// its two parties and its search terms), as years of use would leave it, so
/// the dashboard can be measured at scale. Returns how long it took.
pub async fn seed_intros(
    database_url: &str,
    connector_id: &str,
    count: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let n = i64::try_from(count).unwrap_or(i64::MAX);
    if n == 0 {
        return Ok(started.elapsed());
    }
    sqlx::any::install_default_drivers();
    let sqlite = database_url.starts_with("sqlite:");
    let mut conn = AnyConnection::connect(database_url)
        .await
        .with_context(|| format!("seeding: cannot open {database_url}"))?;
    let known = sqlx::query("select count(*) as n from connectors where connector_id = $1")
        .bind(connector_id)
        .fetch_one(&mut conn)
        .await?
        .try_get::<i64, _>("n")?;
    if known == 0 {
        bail!("seeding: no connector {connector_id}");
    }
    // Seeded ids start with `00`, before every real UUIDv7 (`01…`). A second
    // seeding continues the sequence, and its times follow the first's.
    let row =
        sqlx::query("select count(*) as n, max(created_at) as t from intros where intro_id < '01'")
            .fetch_one(&mut conn)
            .await?;
    let (base, last_seeded) = (
        row.try_get::<i64, _>("n")?,
        row.try_get::<Option<i64>, _>("t")?,
    );
    if base.saturating_add(n) > 0xff_ffff {
        bail!("seeding: at most 16,777,215 seeded intros fit the id shape");
    }
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    // Created over three years ending a month ago: each has closed by now
    // (the longest takes nine days).
    let end = now - 30 * DAY;
    let t0 = last_seeded.map_or(end - 3 * 365 * DAY, |t| t + 1);
    let step = ((end - t0) / n).max(1);
    if sqlite {
        // This connection only, with the server stopped. A rollback journal
        // (WAL again at the end) writes the new pages once instead of to the
        // log and again at the checkpoint; the rows are consistent by
        // construction, so key checks and fsyncs would only cost time.
        for pragma in [
            "pragma busy_timeout = 15000",
            "pragma journal_mode = delete",
            "pragma foreign_keys = off",
            "pragma synchronous = off",
            "pragma cache_size = -1048576",
            "pragma temp_store = memory",
        ] {
            run(&mut conn, pragma.to_string()).await?;
        }
    }
    let filled = fill(&mut conn, sqlite, connector_id, n, base, t0, step).await;
    if sqlite {
        run(&mut conn, "pragma journal_mode = wal".to_string()).await?;
    }
    filled?;
    if !sqlite {
        // PostgreSQL's autovacuum would gather these itself before long.
        // twoyes never analyzes SQLite, and statistics there would cost it
        // dearly: with them (the bundled SQLite has STAT4) every statement
        // is planned afresh whenever a bound value changes.
        run(&mut conn, "analyze".to_string()).await?;
    }
    conn.close().await?;
    Ok(started.elapsed())
}

/// Writes the rows in one transaction: intros, parties, then search terms.
async fn fill(
    conn: &mut AnyConnection,
    sqlite: bool,
    connector_id: &str,
    n: i64,
    base: i64,
    t0: i64,
    step: i64,
) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    if !sqlite {
        run(&mut tx, "set local synchronous_commit = off".to_string()).await?;
        // As on SQLite, skip the per-row key checks (ten million trigger
        // calls) when allowed: only a superuser may.
        let row = sqlx::query("select current_setting('is_superuser') as su")
            .fetch_one(&mut *tx)
            .await?;
        if row.try_get::<String, _>("su")? == "on" {
            run(
                &mut tx,
                "set local session_replication_role = replica".to_string(),
            )
            .await?;
        }
    }
    for (table, columns, rows) in lookup_tables()? {
        run(
            &mut tx,
            format!("create temp table {table} (k integer primary key, {columns})"),
        )
        .await?;
        for chunk in rows.chunks(500) {
            run(
                &mut tx,
                format!("insert into {table} values {}", chunk.join(", ")),
            )
            .await?;
        }
    }
    // `n(i)`: the row numbers 0..=last.
    let numbers = |last: i64| {
        if sqlite {
            format!(
                "with recursive n(i) as (select 0 union all select i + 1 from n where i < {last})"
            )
        } else {
            format!("with n(i) as (select generate_series(0::bigint, {last}::bigint))")
        }
    };
    run(
        &mut tx,
        "create temp table seed_n (i integer primary key)".to_string(),
    )
    .await?;
    run(
        &mut tx,
        format!(
            "insert into seed_n (i) {} select i from n",
            numbers((n - 1) / 37)
        ),
    )
    .await?;

    let id = |i: &str| {
        if sqlite {
            format!("printf('00%06x-0000-7000-8000-%012x', {base} + {i}, {base} + {i})")
        } else {
            format!(
                "'00' || lpad(to_hex({base} + {i}), 6, '0') || '-0000-7000-8000-' || lpad(to_hex({base} + {i}), 12, '0')"
            )
        }
    };
    // `q`: one row per intro, with its fate and its two answer delays.
    let plan =
        format!(
        "{}, a as (select i, {t0} + i * {step} as c, (i * 2654435761) % 4294967296 as h from n),
         q as (select a.i, {} as id, a.c, a.h, 60000 + (a.h % 1000003) * 172 as d1,
                   60000 + ((a.h / 1000003) % 4294) * 40000 as d2, f.*
               from a join seed_fate f on f.k = a.h % 1200)",
        numbers(n - 1), id("i"));
    let at = |t: &str| format!("(c + d1 * {t}_1 + d2 * {t}_2 + {t}_0)");
    let pick = |items: [&str; 5]| {
        let arms: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(k, s)| format!("when {k} then {}", quote(s)))
            .collect();
        format!("case (h / 7) % 5 {} end", arms.join(" "))
    };
    sqlx::query(AssertSqlSafe(format!(
        "{plan} insert into intros (intro_id, connector_id, mode, status, reason, topic, note,
             created_at, updated_at, closed_at)
         select id, $1, mode, status, {}, {}, case when h % 11 = 0 then 'Mention the conference.' end,
             c, {closed}, {closed}
         from q", pick(REASONS.map(|r| r.0)), pick(REASONS.map(|r| r.1)), closed = at("closed"))))
        .bind(connector_id).execute(&mut *tx).await?;

    // Both parties of an intro in turn: (intro_id, role) order.
    let side = |r: &str, t: &str| format!("case when x = 0 then {r} else {t} end");
    run(&mut tx, format!(
        "{plan} insert into parties (intro_id, role, name, email, email_key, blurb, consent,
             consent_on_record_at, asked_at, ask_count, reminded, decided_at, undo_until,
             snooze_until, has_snoozed, intro_note, private_reason, created_at)
         select id, {role}, {name}, case when i % 10 = 3 then {cap} else {key} end || {num},
             {key} || {num}, case when x = 0 and h % 2 = 0
                 then 'I run a small studio and like meeting people who build things.' end,
             {cons}, {rec}, {ask}, case when {ask} is null then 0 else 1 end,
             case when {cons} = 'expired' then 1 else 0 end, {dec}, null, null, 0,
             case when {cons} = 'accepted' and h % 5 = 1 then 'Happy to help, Tuesdays suit me.' end,
             case when {cons} = 'declined' and h % 3 = 1 then 'Too busy this quarter.' end, c
         from q cross join (select 0 as x union all select 1) roles
             join seed_people p on p.k = i % {PEOPLE}",
        role = side("'requester'", "'target'"), name = side("p.r_name", "p.t_name"),
        cap = side("p.r_cap", "p.t_cap"), key = side("p.r_key", "p.t_key"),
        num = format!("(10000000 + 2 * ({base} + i) + x) || '@' || {}", side("p.r_dom", "p.t_dom")),
        cons = side("r_cons", "t_cons"), rec = side(&at("r_rec"), "null"),
        ask = side(&at("r_ask"), "c"), dec = side(&at("r_dec"), &at("t_dec")))).await?;

    // Term by term in sorted order, each term's intros in id order: the
    // intros with one party named so are two arithmetic progressions of `i`.
    // No duplicates by construction (see `lookup_tables`), so a plain insert:
    // PostgreSQL's `on conflict` would double the time.
    let i = "(case when x = 0 then v.a0 else v.a1 end + v.p * t.i)";
    sqlx::query(AssertSqlSafe(format!(
        "insert into intro_search (connector_id, term, intro_id)
         select $1, case when v.email = 1 then v.word || (10000000 + 2 * ({base} + {i})
                 + case when x = 0 then v.role0 else v.role1 end) || '@'
                 || case when x = 0 then v.dom0 else v.dom1 end else v.word end, {}
         from seed_terms v cross join seed_n t cross join (select 0 as x union all select 1) xs
         where t.i <= ({last} - v.a0) / v.p and (x = 0 or v.a1 >= 0) and {i} <= {last}",
        id(i),
        last = n - 1
    )))
    .bind(connector_id)
    .execute(&mut *tx)
    .await?;

    for table in ["seed_fate", "seed_people", "seed_terms", "seed_n"] {
        run(&mut tx, format!("drop table {table}")).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A time as `c + X·d1 + Y·d2 + Z` (null when `Z` is): from the creation,
/// via the intro's two answer delays.
type At = Option<(i64, i64, i64)>;

/// The fate of an intro whose hash `h` has `h % 1200 == key`: 40% introduced,
/// 25% declined, 25% expired, 10% cancelled; a third in parallel mode. The
/// target is asked at `c`; times follow the state machine with the default
/// timings (7-day expiry, 10-minute undo window). Returns status, mode,
/// target and requester consent, then the times of [`FATE_TIMES`].
fn fate(
    key: usize,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    [At; 5],
) {
    let (bucket, parallel, v) = (key % 100, (key / 100).is_multiple_of(3), (key / 300) % 4);
    let status = match bucket {
        0..40 => "introduced",
        40..65 => "declined",
        65..90 => "expired",
        _ => "cancelled",
    };
    // In target-first mode one in four requesters asked through the
    // request page: their consent is on record and they are not asked.
    let on_record = !parallel && v == 0;
    let target_closed = if parallel { v % 2 == 0 } else { v < 3 };
    let now = Some((0, 0, 0));
    let target_decided = Some((1, 0, 0));
    let asked = if parallel { now } else { Some((1, 0, UNDO)) };
    let decided = if parallel {
        Some((1, 1, 0))
    } else {
        Some((1, 1, UNDO))
    };
    let after = |at: At, z: i64| at.map(|(x, y, w)| (x, y, w + z));
    let record = if on_record {
        Some((0, 0, -3_600_000))
    } else {
        None
    };
    let untouched = if parallel {
        ("asked", now)
    } else {
        ("not_asked", None)
    };
    let (t, r, t_dec, r_ask, r_dec, closed) = match (status, target_closed) {
        ("introduced", _) if on_record => (
            "accepted",
            "accepted",
            target_decided,
            None,
            Some((1, 0, UNDO)),
            Some((1, 0, UNDO)),
        ),
        ("introduced", _) => (
            "accepted",
            "accepted",
            target_decided,
            asked,
            decided,
            after(decided, UNDO),
        ),
        ("declined", true) => (
            "declined",
            untouched.0,
            target_decided,
            untouched.1,
            None,
            Some((1, 0, UNDO)),
        ),
        ("declined", false) => (
            "accepted",
            "declined",
            target_decided,
            asked,
            decided,
            after(decided, UNDO),
        ),
        ("expired", true) if parallel => {
            ("expired", "expired", None, now, None, Some((0, 0, 7 * DAY)))
        }
        ("expired", true) => (
            "expired",
            "not_asked",
            None,
            None,
            None,
            Some((0, 0, 7 * DAY)),
        ),
        ("expired", false) => (
            "accepted",
            "expired",
            target_decided,
            asked,
            None,
            after(asked, 7 * DAY),
        ),
        _ => (
            "asked",
            untouched.0,
            None,
            untouched.1,
            None,
            Some((1, 0, 0)),
        ),
    };
    (
        status,
        if parallel { "parallel" } else { "target_first" },
        t,
        r,
        [t_dec, r_ask, record, r_dec, closed],
    )
}
const FATE_TIMES: [&str; 5] = ["t_dec", "r_ask", "r_rec", "r_dec", "closed"];

/// Party `role` (0 requester, 1 target) of intro `i`: (first, last, domain)
/// indexes, all functions of `i % 1961`.
fn person(i: usize, role: usize) -> (usize, usize, usize) {
    if role == 0 {
        (i % 37, i % 53, i % 7)
    } else {
        ((i * 11 + 3) % 37, (i * 17 + 29) % 53, (i + 3) % 7)
    }
}

/// `seed_people`: both parties' names by `i % 1961`. `seed_terms`: every
/// search term (or, for addresses, the part before the number), sorted, with
/// the residues of `i` whose requester (`a0`) and target (`a1`, or -1 when
/// the same intro) carry it, modulo `p`.
fn lookup_tables() -> anyhow::Result<Vec<(&'static str, String, Vec<String>)>> {
    // Distinct words: an intro's two parties share a word only when their
    // residues are equal (`a1` = -1), so no (term, intro) comes twice.
    let words: std::collections::BTreeSet<String> = FIRST
        .iter()
        .chain(&LAST)
        .map(|w| w.to_lowercase())
        .collect();
    if words.len() != FIRST.len() + LAST.len() {
        bail!("seeding: a name is in FIRST or LAST twice");
    }
    let (mut people, mut at) = (Vec::new(), BTreeMap::<(usize, usize), [usize; 2]>::new());
    for x in 0..PEOPLE {
        let mut row = vec![x.to_string()];
        for role in 0..2 {
            let (f, l, d) = person(x, role);
            at.entry((f, l)).or_default()[role] = x;
            let key = format!("{}.{}", FIRST[f], LAST[l]);
            row.extend(
                [
                    format!("{} {}", FIRST[f], LAST[l]),
                    key.to_lowercase(),
                    key,
                    DOMAINS[d].to_string(),
                ]
                .map(|s| quote(&s)),
            );
        }
        people.push(format!("({})", row.join(", ")));
    }
    let mut terms = BTreeMap::new();
    for (&(f, l), &[r, t]) in &at {
        let (first, last) = (FIRST[f].to_lowercase(), LAST[l].to_lowercase());
        let pair = |p: usize| {
            if r % p == t % p {
                [r % p, usize::MAX]
            } else {
                [(r % p).min(t % p), (r % p).max(t % p)]
            }
        };
        terms.insert((first.clone(), 0), (0, 37, pair(37), [0, 1], [0, 0]));
        terms.insert((last.clone(), 1), (0, 53, pair(53), [0, 1], [0, 0]));
        terms.insert(
            (format!("{first} {last}"), 2),
            (0, PEOPLE, pair(PEOPLE), [0, 1], [0, 0]),
        );
        // Addresses sort by name, then number (2i + role); the `0` places the
        // group among the words as its first address sorts.
        let (slots, roles) = if r <= t {
            ([r, t], [0, 1])
        } else {
            ([t, r], [1, 0])
        };
        let doms = [0, 1].map(|j| person(slots[j], roles[j]).2);
        terms.insert(
            (format!("{first}.{last}0"), 3),
            (1, PEOPLE, slots, roles, doms),
        );
    }
    let rows = terms.iter().enumerate().map(
        |(k, ((word, _), (email, p, [a0, a1], [r0, r1], [d0, d1])))| {
            let word = if *email == 1 {
                &word[..word.len() - 1]
            } else {
                word.as_str()
            };
            let a1 = if *a1 == usize::MAX { -1 } else { *a1 as i64 };
            format!(
                "({k}, {}, {email}, {p}, {a0}, {a1}, {r0}, {r1}, {}, {})",
                quote(word),
                quote(DOMAINS[*d0]),
                quote(DOMAINS[*d1])
            )
        },
    );
    let fates = (0..1200).map(|key| {
        let (status, mode, t, r, times) = fate(key);
        let times = times.map(|at| {
            at.map_or("0, 0, null".to_string(), |(x, y, z)| {
                format!("{x}, {y}, {z}")
            })
        });
        format!(
            "({key}, '{status}', '{mode}', '{t}', '{r}', {})",
            times.join(", ")
        )
    });
    let time_columns: Vec<String> = FATE_TIMES
        .iter()
        .map(|t| format!("{t}_1 integer, {t}_2 integer, {t}_0 integer"))
        .collect();
    Ok(vec![
        ("seed_fate", format!("status text, mode text, t_cons text, r_cons text, {}", time_columns.join(", ")), fates.collect()),
        ("seed_people", "r_name text, r_key text, r_cap text, r_dom text, t_name text, t_key text, t_cap text, t_dom text".into(), people),
        ("seed_terms", "word text, email integer, p integer, a0 integer, a1 integer, role0 integer, role1 integer, dom0 text, dom1 text".into(), rows.collect()),
    ])
}

/// Runs one statement built here (only constants and numbers are spliced in).
async fn run(conn: &mut AnyConnection, sql: String) -> anyhow::Result<u64> {
    Ok(sqlx::query(AssertSqlSafe(sql))
        .execute(conn)
        .await?
        .rows_affected())
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
