//! The report as one self-contained HTML page: inline CSS and inline SVG charts, no
//! script, no external asset, so it opens offline, prints, and can be mailed as one
//! file.
//!
//! Folder names, user names, reason kinds and server words are user data: every piece
//! of text goes through [`escape`], in element content and attribute values alike
//! (SVG text included, which follows the same XML rules).

use std::fmt::Write;

use super::{BatchReport, Counts, MailboxStatus, UserReport};
use crate::progress::human_bytes;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // control characters would make the page invalid; show them as U+FFFD
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The segments of a user's bar, in drawing order: (CSS class, legend, count). They
/// do not overlap: released messages are counted once, as released, even when
/// repaired.
fn segments(c: &Counts) -> [(&'static str, &'static str, u64); 6] {
    let repaired = c.repaired - c.repaired_released;
    [
        (
            "clean",
            "staged as is",
            c.staged.saturating_sub(c.released + repaired),
        ),
        ("repaired", "repaired", repaired),
        ("released", "released", c.released),
        ("quarantined", "quarantined", c.quarantined),
        ("duplicate", "duplicate", c.duplicate),
        ("excluded", "excluded", c.excluded),
    ]
}

const CSS: &str = r#"
:root { --clean:#3f8f3f; --repaired:#4a90d9; --released:#8e5bb5; --quarantined:#c9302c;
        --duplicate:#e8a33d; --excluded:#9a9a9a; --line:#d8dde3; --muted:#5f6b76; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color:#1d252c;
       margin: 0 auto; padding: 24px 32px 48px; max-width: 1240px; background:#fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.sub { color: var(--muted); margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 118px; }
.card .v { font-size: 20px; font-weight: bold; }
.card .k { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; overflow-wrap: break-word; }
th { background: #f3f5f7; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.s { white-space: nowrap; }
tfoot td { font-weight: bold; border-top: 2px solid #9aa5b1; }
.ok { color: #2d7a2d; font-weight: 600; }
.bad { color: var(--quarantined); font-weight: 600; }
.warn { color: #a86400; font-weight: 600; }
.muted { color: var(--muted); }
svg { max-width: 100%; height: auto; display: block; }
svg text { font: 12px "DejaVu Sans", Helvetica, Arial, sans-serif; fill: #1d252c; }
svg text.in { fill: #fff; }
.clean { fill: var(--clean); } .repaired { fill: var(--repaired); } .released { fill: var(--released); }
.quarantined { fill: var(--quarantined); } .duplicate { fill: var(--duplicate); }
.excluded { fill: var(--excluded); } .bar { fill: var(--repaired); } .qbar { fill: var(--quarantined); }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 4px 0 8px; font-size: 12px; }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px;
                       margin-right: 5px; vertical-align: -1px; background: var(--c); }
.folder-grid { display: flex; flex-wrap: wrap; gap: 0 36px; align-items: flex-start; }
@media print { body { padding: 0; font-size: 11px; } h2 { break-after: avoid; }
               table, svg { break-inside: avoid; } }
"#;

/// Renders the whole page.
pub fn render(r: &BatchReport) -> String {
    let mut h = String::with_capacity(64 * 1024);
    // writes into a String cannot fail
    let _ = page(&mut h, r);
    h
}

fn page(h: &mut String, r: &BatchReport) -> std::fmt::Result {
    let title = if r.staging.is_empty() {
        "mailstage report".to_owned()
    } else {
        format!("mailstage report: {}", r.staging)
    };
    write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    )?;
    let t = &r.total;
    write!(
        h,
        "<p class=\"sub\">{} users · {} messages · {} of source mail",
        r.users.len(),
        t.messages,
        human_bytes(t.source_bytes)
    )?;
    if let Some(g) = &r.generated {
        write!(h, " · generated {}", escape(g))?;
    }
    h.push_str("</p>\n<div class=\"cards\">\n");
    for (k, v) in [
        ("messages", t.messages.to_string()),
        ("staged", t.staged.to_string()),
        ("repaired", t.repaired.to_string()),
        ("released", t.released.to_string()),
        ("quarantined", t.quarantined.to_string()),
        ("duplicates", t.duplicate.to_string()),
        ("excluded", t.excluded.to_string()),
        ("staged size", human_bytes(t.staged_bytes)),
    ] {
        writeln!(
            h,
            "<div class=\"card\"><div class=\"v\">{}</div><div class=\"k\">{k}</div></div>",
            escape(&v)
        )?;
    }
    h.push_str("</div>\n");
    for w in &r.warnings {
        writeln!(h, "<p class=\"warn\">{}</p>", escape(w))?;
    }

    users_table(h, r)?;
    users_chart(h, &r.users)?;
    uploads(h, &r.users)?;
    kinds(
        h,
        "Repairs by kind",
        "Staged messages that needed each repair (a message can need several).",
        "bar",
        &r.repairs,
        &r.users,
        |u| &u.repairs,
    )?;
    kinds(
        h,
        "Quarantine reasons by kind",
        "Originals kept byte-identical under <code>STAGING/&lt;user&gt;/quarantine/</code>, \
         each with its reason beside it.",
        "qbar",
        &r.quarantine_reasons,
        &r.users,
        |u| &u.quarantine_reasons,
    )?;
    folders(h, &r.users)?;
    h.push_str("</body>\n</html>\n");
    Ok(())
}

fn users_table(h: &mut String, r: &BatchReport) -> std::fmt::Result {
    h.push_str(
        "<h2 id=\"users\">Users</h2>\n<table class=\"users\">\n<thead><tr><th>user</th>\
         <th class=\"n\">messages</th><th class=\"n\">staged</th><th class=\"n\">released</th>\
         <th class=\"n\">repaired</th><th class=\"n\">quarantined</th>\
         <th class=\"n\">duplicates</th><th class=\"n\">excluded</th>\
         <th class=\"n\">source size</th><th class=\"n\">staged size</th></tr></thead>\n<tbody>\n",
    );
    let row = |h: &mut String, name: &str, c: &Counts| {
        write!(h, "<tr><td>{}</td>", escape(name))?;
        for n in [
            c.messages,
            c.staged,
            c.released,
            c.repaired,
            c.quarantined,
            c.duplicate,
            c.excluded,
        ] {
            write!(h, "<td class=\"n\">{n}</td>")?;
        }
        writeln!(
            h,
            "<td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            human_bytes(c.source_bytes),
            human_bytes(c.staged_bytes)
        )
    };
    for u in &r.users {
        row(h, &u.user, &u.counts)?;
    }
    h.push_str("</tbody>\n");
    if r.users.len() > 1 {
        h.push_str("<tfoot>");
        row(h, "total", &r.total)?;
        h.push_str("</tfoot>\n");
    }
    h.push_str(
        "</table>\n<p class=\"muted\">staged includes released (let out of quarantine by \
         <code>mailstage quarantine release</code>) and repaired messages; counts come from \
         each user's manifest.jsonl.</p>\n",
    );
    Ok(())
}

fn legend(h: &mut String, items: &[(&str, &str)]) {
    h.push_str("<div class=\"legend\">");
    for (class, label) in items {
        let _ = write!(
            h,
            "<span style=\"--c:var(--{class})\">{}</span>",
            escape(label)
        );
    }
    h.push_str("</div>\n");
}

/// One 100 % stacked bar per user: what became of their messages.
fn users_chart(h: &mut String, users: &[UserReport]) -> std::fmt::Result {
    const LABEL: f64 = 170.0;
    const BAR: f64 = 820.0;
    const ROW: f64 = 28.0;
    h.push_str("<h2>What became of each user's messages</h2>\n");
    let items: Vec<(&str, &str)> = segments(&Counts::default())
        .iter()
        .map(|(c, l, _)| (*c, *l))
        .collect();
    legend(h, &items);
    let height = ROW * users.len() as f64 + 4.0;
    writeln!(
        h,
        "<svg class=\"stack\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" \
         role=\"img\" aria-label=\"messages per user by status\">",
        w = LABEL + BAR + 90.0
    )?;
    for (i, u) in users.iter().enumerate() {
        let y = i as f64 * ROW + 2.0;
        writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL - 8.0,
            y + 17.0,
            escape(&truncate(&u.user, 22))
        )?;
        let total = u.counts.messages;
        let mut x = LABEL;
        for (class, label, n) in segments(&u.counts) {
            if n == 0 || total == 0 {
                continue;
            }
            let w = BAR * n as f64 / total as f64;
            writeln!(
                h,
                "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\">\
                 <title>{}: {n} {label}</title></rect>",
                ROW - 6.0,
                escape(&u.user)
            )?;
            if w >= 8.0 * (n.to_string().len() as f64) + 6.0 {
                writeln!(
                    h,
                    "<text class=\"in\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
                    x + w / 2.0,
                    y + 16.0
                )?;
            }
            x += w;
        }
        writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{}\">{total} msgs</text>",
            LABEL + BAR + 6.0,
            y + 17.0
        )?;
    }
    h.push_str("</svg>\n");
    Ok(())
}

/// An RFC 3339 time as people read it in a table: UTC, to the second.
fn when(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_owned())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn uploads(h: &mut String, users: &[UserReport]) -> std::fmt::Result {
    h.push_str("<h2 id=\"upload\">Upload and verify</h2>\n");
    if users.iter().all(|u| u.mailboxes.is_empty()) {
        h.push_str(
            "<p class=\"muted\">Nothing uploaded yet (no journal under \
             <code>STAGING/&lt;user&gt;/upload/</code>).</p>\n",
        );
        return Ok(());
    }
    h.push_str(
        "<table class=\"uploads\">\n<thead><tr><th>user</th><th>mailbox</th><th>server</th>\
         <th>upload</th><th class=\"n\">on server</th><th class=\"n\">failed</th>\
         <th>last upload</th><th>verify</th><th>verified</th></tr></thead>\n<tbody>\n",
    );
    for u in users {
        if u.mailboxes.is_empty() {
            writeln!(
                h,
                "<tr><td>{}</td><td colspan=\"8\" class=\"muted\">not uploaded</td></tr>",
                escape(&u.user)
            )?;
        }
        for m in &u.mailboxes {
            mailbox_row(h, &u.user, m)?;
        }
    }
    h.push_str("</tbody>\n</table>\n");
    Ok(())
}

fn mailbox_row(h: &mut String, user: &str, m: &MailboxStatus) -> std::fmt::Result {
    let class = match m.state.as_str() {
        "complete" => "ok",
        "rolled back" | "not uploaded" => "muted",
        _ => "bad",
    };
    let mut state = m.state.clone();
    if let Some(u) = &m.upload
        && u.staging_changed
        && m.state != "rolled back"
    {
        state.push_str(" (staging changed since)");
    }
    if let Some(rb) = &m.rollback {
        state.push_str(&format!(" ({} removed)", rb.removed));
    }
    let (on_server, failed) = match &m.upload {
        Some(u) => (
            format!("{} / {}", u.on_server, u.staged),
            u.failed.to_string(),
        ),
        None => ("–".into(), "–".into()),
    };
    let last = m
        .rollback
        .as_ref()
        .map(|r| when(&r.time))
        .or_else(|| m.upload.as_ref().and_then(|u| u.time.as_deref().map(when)))
        .unwrap_or_else(|| "–".into());
    let (verify, vclass, vtime) = match &m.verify {
        None => ("not run".to_owned(), "muted", "–".to_owned()),
        Some(v) => {
            let mut s = if v.ok {
                format!("OK: {} of {} present", v.present, v.expected)
            } else {
                format!(
                    "NOT OK: {} missing, {} duplicated of {}",
                    v.missing, v.duplicated, v.expected
                )
            };
            if v.wrong_date + v.wrong_flags > 0 {
                s.push_str(&format!(
                    "; {} wrong date, {} wrong flags",
                    v.wrong_date, v.wrong_flags
                ));
            }
            if m.verify_stale {
                s.push_str(" (before the last upload/rollback)");
            }
            let class = if m.verify_stale {
                "warn"
            } else if v.ok {
                "ok"
            } else {
                "bad"
            };
            (s, class, when(&v.time))
        }
    };
    writeln!(
        h,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td>\
         <td class=\"n\">{on_server}</td><td class=\"n\">{failed}</td><td class=\"s\">{}</td>\
         <td class=\"{vclass} s\">{}</td><td class=\"s\">{}</td></tr>",
        escape(user),
        escape(&m.mailbox),
        escape(&m.server),
        escape(&state),
        escape(&last),
        escape(&verify),
        escape(&vtime)
    )
}

/// A bar chart of batch totals by kind, and a table with each user's share.
fn kinds(
    h: &mut String,
    title: &str,
    note_html: &str,
    bar_class: &str,
    totals: &std::collections::BTreeMap<String, u64>,
    users: &[UserReport],
    of: impl Fn(&UserReport) -> &std::collections::BTreeMap<String, u64>,
) -> std::fmt::Result {
    writeln!(h, "<h2>{}</h2>", escape(title))?;
    if totals.is_empty() {
        h.push_str("<p class=\"muted\">None.</p>\n");
        return Ok(());
    }
    writeln!(h, "<p class=\"muted\">{note_html}</p>")?;
    const LABEL: f64 = 300.0;
    const BAR: f64 = 560.0;
    const ROW: f64 = 24.0;
    let max = totals.values().copied().max().unwrap_or(1).max(1);
    let height = ROW * totals.len() as f64 + 4.0;
    writeln!(
        h,
        "<svg class=\"kinds\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" \
         role=\"img\" aria-label=\"{}\">",
        escape(title),
        w = LABEL + BAR + 80.0
    )?;
    for (i, (k, &n)) in totals.iter().enumerate() {
        let y = i as f64 * ROW + 2.0;
        let w = (BAR * n as f64 / max as f64).max(1.0);
        writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"{bar_class}\" x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\">\
             <title>{}: {n}</title></rect><text x=\"{:.1}\" y=\"{}\">{n}</text>",
            LABEL - 8.0,
            y + 15.0,
            escape(&truncate(k, 40)),
            ROW - 6.0,
            escape(k),
            LABEL + w + 6.0,
            y + 15.0
        )?;
    }
    h.push_str("</svg>\n<table class=\"kinds\">\n<thead><tr><th>kind</th><th class=\"n\">messages</th><th>users</th></tr></thead>\n<tbody>\n");
    for (k, n) in totals {
        let by: Vec<String> = users
            .iter()
            .filter_map(|u| of(u).get(k).map(|c| format!("{} {c}", escape(&u.user))))
            .collect();
        writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td>{}</td></tr>",
            escape(k),
            by.join(" · ")
        )?;
    }
    h.push_str("</tbody>\n</table>\n");
    Ok(())
}

fn folders(h: &mut String, users: &[UserReport]) -> std::fmt::Result {
    h.push_str(
        "<h2 id=\"folders\">Folders</h2>\n<p class=\"muted\">Messages per target folder \
         (quarantined messages are counted under Quarantine reasons).</p>\n<div class=\"folder-grid\">\n",
    );
    for u in users {
        writeln!(
            h,
            "<section><h3>{}</h3>\n<table class=\"folders\">\n<thead><tr><th>folder</th>\
             <th class=\"n\">staged</th><th class=\"n\">duplicates</th>\
             <th class=\"n\">excluded</th></tr></thead>\n<tbody>",
            escape(&u.user)
        )?;
        for f in &u.folders {
            writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td></tr>",
                escape(&f.folder),
                f.staged,
                f.duplicate,
                f.excluded
            )?;
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }
    h.push_str("</div>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script> it's"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; it&#39;s"
        );
        assert_eq!(escape("a\u{1}b"), "a\u{FFFD}b");
    }

    #[test]
    fn user_data_never_reaches_the_page_unescaped() {
        let evil = "<img src=x onerror=alert(1)>&\"'";
        let mut u = UserReport {
            user: evil.into(),
            ..Default::default()
        };
        u.counts.messages = 2;
        u.counts.staged = 1;
        u.counts.quarantined = 1;
        u.repairs.insert(evil.into(), 1);
        u.quarantine_reasons.insert(evil.into(), 1);
        u.folders.push(super::super::FolderCount {
            folder: evil.into(),
            staged: 1,
            ..Default::default()
        });
        let r = BatchReport {
            staging: evil.into(),
            users: vec![u],
            warnings: vec![evil.into()],
            ..Default::default()
        };
        let page = render(&r);
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;"));
        // no script and nothing fetched from elsewhere
        assert!(!page.contains("<script"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
