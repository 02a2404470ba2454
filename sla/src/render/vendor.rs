//! The vendor's status page in the claim documents (HTML and Markdown): what it declared during the period, and
//! how each of our incidents stands against it ([`crate::vendor`]). Both documents word each finding the same.

use std::fmt::Write as _;

use super::html::escape;
use crate::Report;
use crate::display::duration;
use crate::vendor::{Declared, NoticeKind, VendorStatus, Verdict};

/// What the page is and when it was read, in one sentence.
pub fn source(status: &VendorStatus) -> String {
    let read = status.checked_at.map_or_else(
        || "never read successfully".to_owned(),
        |at| format!("last read {}", at.strftime("%Y-%m-%d %H:%M UTC")),
    );
    let problem =
        status.problem.as_ref().map_or_else(String::new, |problem| format!("; the last read failed: {problem}"));
    format!("{} ({read}{problem})", status.status_page)
}

/// The findings counted: `Undeclared: 1 of our 3 incidents · vendor incidents we did not see: 1 · maintenances
/// posted with less notice than the contract requires: 1`.
pub fn tally(status: &VendorStatus) -> String {
    format!(
        "Undeclared: {} of our {} incidents · vendor incidents we did not see: {} · maintenances posted with less \
         notice than the contract requires: {}",
        status.undeclared_incidents,
        status.incidents.len(),
        status.unseen_vendor_incidents,
        status.short_notice_maintenances
    )
}

/// What the vendor said of one of our incidents.
pub fn said(status: &VendorStatus, verdict: Verdict, ids: &[String]) -> String {
    let named: Vec<String> = ids
        .iter()
        .filter_map(|id| status.declared.iter().find(|declared| &declared.notice.id == id))
        .map(|declared| format!("“{}” ({})", declared.notice.name, span(declared)))
        .collect();
    match verdict {
        Verdict::Declared => format!("declared: {}", named.join("; ")),
        Verdict::Maintenance => format!("during the vendor's maintenance {}", named.join("; ")),
        Verdict::Undeclared => "UNDECLARED: the vendor's status page said nothing".to_owned(),
    }
}

/// What we make of one notice of the vendor.
pub fn finding(status: &VendorStatus, declared: &Declared) -> String {
    match (declared.notice.kind, declared.seen, declared.notice_seconds) {
        (NoticeKind::Incident, Some(true), _) => "we saw it too".to_owned(),
        (NoticeKind::Incident, _, _) => "we did not see it".to_owned(),
        (NoticeKind::Maintenance, _, ahead) => {
            let ahead = duration(ahead.unwrap_or(0) as f64);
            match (declared.excludable, status.maintenance_notice_seconds) {
                (Some(true), Some(_)) => format!("announced {ahead} ahead: excludable"),
                (Some(false), Some(required)) => format!(
                    "announced {ahead} ahead, less than the {} notice the contract requires: not excludable",
                    duration(required as f64)
                ),
                _ => format!("announced {ahead} ahead (the contract sets no notice)"),
            }
        }
    }
}

/// A notice's start to end, `open` while it is.
pub fn span(declared: &Declared) -> String {
    let end = declared.notice.end.map_or_else(|| "open".to_owned(), |end| end.strftime("%Y-%m-%d %H:%M").to_string());
    format!("{} to {end}", declared.notice.start.strftime("%Y-%m-%d %H:%M"))
}

/// The HTML section, when the contract names a status page.
pub fn render_html(out: &mut String, report: &Report) {
    let Some(status) = &report.vendor_status else { return };
    let _ = writeln!(
        out,
        "<h2>The vendor's status page</h2>\n<p class=\"{}\">{}. {}. What the vendor declared changes no figure \
         above: only the contract's maintenance windows are excluded.</p>",
        if status.problem.is_some() { "warn" } else { "note" },
        escape(&source(status)),
        escape(&tally(status)),
    );
    if !status.incidents.is_empty() {
        out.push_str("<h3>Our incidents against the vendor's word</h3>\n");
        out.push_str(
            "<table><tr><th>Our incident (UTC)</th><th class=\"num\">Duration</th><th>The vendor said</th></tr>\n",
        );
        for word in &status.incidents {
            let _ = writeln!(
                out,
                "<tr><td>{} to {}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                word.start.strftime("%Y-%m-%d %H:%M"),
                word.end.strftime("%Y-%m-%d %H:%M"),
                duration(word.end.duration_since(word.start).as_secs_f64()),
                escape(&said(status, word.verdict, &word.vendor_ids)),
            );
        }
        out.push_str("</table>\n");
    }
    if status.declared.is_empty() {
        out.push_str("<p>The vendor declared no incident or maintenance during this period.</p>\n");
        return;
    }
    out.push_str(
        "<h3>What the vendor declared during the period</h3>\n\
         <table><tr><th>The vendor declared</th><th>Title</th><th>When (UTC)</th><th>Posted</th>\
         <th class=\"num\">Our downtime within</th><th>Finding</th></tr>\n",
    );
    for declared in &status.declared {
        let _ = writeln!(
            out,
            "<tr><td>{} <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            declared.notice.kind.as_str(),
            escape(&declared.notice.id),
            escape(&declared.notice.name),
            escape(&span(declared)),
            declared.notice.announced_at.strftime("%Y-%m-%d %H:%M"),
            duration(declared.down_seconds as f64),
            escape(&finding(status, declared)),
        );
    }
    out.push_str("</table>\n");
}

/// The Markdown section, when the contract names a status page.
pub fn render_markdown(out: &mut String, report: &Report, cell: impl Fn(&str) -> String) {
    let Some(status) = &report.vendor_status else { return };
    let _ = writeln!(
        out,
        "\n### The vendor's status page: {} ({})\n\n{}. {}.\n",
        report.contract,
        report.period,
        cell(&source(status)),
        tally(status)
    );
    if !status.incidents.is_empty() {
        out.push_str("| our incident | duration | the vendor said |\n| --- | ---: | --- |\n");
        for word in &status.incidents {
            let _ = writeln!(
                out,
                "| {} to {} | {} | {} |",
                word.start,
                word.end,
                duration(word.end.duration_since(word.start).as_secs_f64()),
                cell(&said(status, word.verdict, &word.vendor_ids)),
            );
        }
        out.push('\n');
    }
    if status.declared.is_empty() {
        out.push_str("The vendor declared no incident or maintenance during this period.\n");
        return;
    }
    out.push_str(
        "| the vendor declared | title | when | posted | our downtime within | finding |\n\
         | --- | --- | --- | --- | ---: | --- |\n",
    );
    for declared in &status.declared {
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {} | {} |",
            declared.notice.kind.as_str(),
            cell(&declared.notice.id),
            cell(&declared.notice.name),
            span(declared),
            declared.notice.announced_at,
            duration(declared.down_seconds as f64),
            cell(&finding(status, declared)),
        );
    }
}
