//! The vendor's status page on a contract's page: when it was last read (or why it could not be), each of our
//! incidents as the vendor declared it or not, and each incident or maintenance the vendor declared in the
//! period with what we make of it. Worded as in the claim report ([`slaprobe_sla::render::vendor`]).

use maud::{Markup, html};

use super::moment;
use slaprobe_sla::Report;
use slaprobe_sla::display::duration;
use slaprobe_sla::render::vendor::{finding, said, source, span, tally};

/// The section, when the contract names a status page.
pub fn section(report: &Report) -> Markup {
    let Some(status) = &report.vendor_status else { return html! {} };
    html! {
        h2 { "The vendor's status page" }
        @if status.problem.is_some() {
            p.warning data-field="status-page" { (source(status)) }
        } @else {
            p.note data-field="status-page" { (source(status)) }
        }
        p.note data-field="tally" { (tally(status)) ". None of it changes a figure." }
        @if !status.incidents.is_empty() {
            h3 { "Our incidents against the vendor's word" }
            div.scroll { table data-field="our-incidents" {
                thead { tr { th { "Our incident" } th.num { "Duration" } th { "The vendor said" } } }
                tbody {
                    @for word in &status.incidents {
                        tr data-verdict=(word.verdict.as_str()) {
                            td.time { (moment(word.start)) }
                            td.num { (duration(word.end.duration_since(word.start).as_secs_f64())) }
                            td { (said(status, word.verdict, &word.vendor_ids)) }
                        }
                    }
                }
            } }
        }
        @if status.declared.is_empty() {
            p.muted { "The vendor declared no incident or maintenance during this period." }
        } @else {
            h3 { "What the vendor declared during the period" }
            div.scroll { table data-field="declared" {
                thead { tr {
                    th { "The vendor declared" } th { "Title" } th { "When" } th { "Posted" }
                    th.num { "Our downtime within" } th { "Finding" }
                } }
                tbody {
                    @for declared in &status.declared {
                        tr data-id=(declared.notice.id) {
                            td { (declared.notice.kind.as_str()) }
                            td {
                                @if let Some(link) = &declared.notice.link {
                                    a href=(link) rel="noreferrer noopener" { (declared.notice.name) }
                                } @else {
                                    (declared.notice.name)
                                }
                            }
                            td.time { (span(declared)) }
                            td.time { (moment(declared.notice.announced_at)) }
                            td.num { (duration(declared.down_seconds as f64)) }
                            td { (finding(status, declared)) }
                        }
                    }
                }
            } }
        }
    }
}
