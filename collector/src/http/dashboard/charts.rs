//! Charts as inline SVG drawn on the server: the period's day-by-day availability strip, latency percentiles
//! per day, and a probe's timing phases as one stacked bar. Each mark carries a `<title>` with its figures, so
//! hovering (or a screen reader) gives the numbers behind the picture.

use maud::{Markup, html};
use slaprobe_proto::Phases;

use slaprobe_sla::Report;
use slaprobe_sla::breakdown::DayLatency;
use slaprobe_sla::display::{day_class, percent};

/// One square per local day of `report`, coloured against the objective, day numbers beneath.
pub fn day_strip(report: &Report) -> Markup {
    let objective = f64::try_from(report.objective).unwrap_or(100.0);
    let width = report.days.len().max(1) * 16;
    html! {
        svg.strip viewBox={ "0 0 " (width) " 34" } width=(width) height="34" role="img"
            aria-label="Availability day by day" {
            @for (index, day) in report.days.iter().enumerate() {
                rect class=(day_class(day.uptime_percent, objective)) x=(index * 16) y="0" width="14" height="20"
                    rx="2" {
                    title {
                        (day.date) ": " (percent(day.uptime_percent, 3)) " (" (day.down_slices) " down, "
                        (day.unknown_slices) " unknown, " (day.excluded_slices) " in maintenance of "
                        (day.total_slices) " slices)"
                    }
                }
                text x=(index * 16 + 7) y="32" text-anchor="middle" { (day.date.day()) }
            }
        }
        p.legend.note {
            span.up { "at or above objective" } span.low { "below, at least 99 %" } span.bad { "below 99 %" }
            span.none { "no eligible data" }
        }
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `value`, so axis labels read as round numbers.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|step| step * magnitude).find(|top| *top >= value).unwrap_or(value)
}

/// p50, p95 and p99 latency per day as three lines, with a labelled axis.
pub fn latency_chart(days: &[DayLatency]) -> Markup {
    let points: Vec<(usize, &DayLatency)> = days.iter().enumerate().filter(|(_, day)| day.latency.is_some()).collect();
    if points.is_empty() {
        return html! { p.muted { "No successful probes to measure latency from yet." } };
    }
    let (left, top, plot_width, plot_height) = (48.0, 8.0, 560.0, 160.0);
    let highest = points.iter().filter_map(|(_, day)| day.latency).map(|latency| latency.p99_ms).fold(0.0, f64::max);
    let ceiling = nice_ceiling(highest);
    let span = (days.len().max(2) - 1) as f64;
    let x = |index: usize| left + plot_width * index as f64 / span;
    let y = |ms: f64| top + plot_height * (1.0 - ms / ceiling);
    let line = |pick: fn(&slaprobe_sla::breakdown::Percentiles) -> f64| {
        points
            .iter()
            .filter_map(|(index, day)| day.latency.map(|latency| format!("{:.1},{:.1}", x(*index), y(pick(&latency)))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg.chart viewBox="0 0 620 200" width="620" height="200" role="img" aria-label="Latency percentiles per day" {
            @for fraction in [0.0, 0.5, 1.0] {
                line x1=(left) x2=(left + plot_width) y1=(y(ceiling * fraction)) y2=(y(ceiling * fraction)) {}
                text x=(left - 4.0) y=(y(ceiling * fraction) + 4.0) text-anchor="end" { (ceiling * fraction) " ms" }
            }
            polyline.p99 points=(line(|latency| latency.p99_ms)) {}
            polyline.p95 points=(line(|latency| latency.p95_ms)) {}
            polyline.p50 points=(line(|latency| latency.p50_ms)) {}
            @for (index, day) in &points {
                @if let Some(latency) = day.latency {
                    circle.p50 cx=(x(*index)) cy=(y(latency.p50_ms)) r="2.5" {}
                    circle.p95 cx=(x(*index)) cy=(y(latency.p95_ms)) r="2.5" {}
                    circle.p99 cx=(x(*index)) cy=(y(latency.p99_ms)) r="2.5" {
                        title {
                            (day.date) ": p50 " (latency.p50_ms) " ms, p95 " (latency.p95_ms) " ms, p99 "
                            (latency.p99_ms) " ms (" (day.samples) " probes)"
                        }
                    }
                }
            }
            @if let (Some(first), Some(last)) = (days.first(), days.last()) {
                text x=(left) y="196" { (first.date) }
                text x=(left + plot_width) y="196" text-anchor="end" { (last.date) }
            }
        }
        p.legend.note { span.p50 { "p50" } span.p95 { "p95" } span.p99 { "p99" } " of successful probes, per day" }
    }
}

/// A probe's phases (DNS, connect, TLS, first byte, transfer) as one bar, each segment as long as it took.
pub fn phase_bar(phases: &Phases) -> Markup {
    let segments: Vec<(&str, f64)> = [
        ("dns", phases.dns),
        ("connect", phases.connect),
        ("tls", phases.tls),
        ("ttfb", phases.ttfb),
        ("transfer", phases.transfer),
    ]
    .into_iter()
    .filter_map(|(name, ms)| Some((name, ms?)))
    .collect();
    let total: f64 = segments.iter().map(|(_, ms)| ms).sum();
    if total <= 0.0 {
        return html! {};
    }
    let mut offset = 0.0;
    let placed: Vec<(&str, f64, f64, f64)> = segments
        .into_iter()
        .map(|(name, ms)| {
            let width = 160.0 * ms / total;
            offset += width;
            (name, ms, offset - width, width)
        })
        .collect();
    html! {
        svg.phases viewBox="0 0 160 10" width="160" height="10" role="img" aria-label="Timing phases" {
            @for (name, ms, x, width) in placed {
                rect class=(name) x=(format!("{x:.2}")) y="0" width=(format!("{width:.2}")) height="10" {
                    title { (name) " " (format!("{ms:.1}")) " ms" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn axis_ceilings_are_round() {
        let ceilings: Vec<f64> = [0.0, 0.7, 1.0, 3.2, 17.0, 180.0, 501.0].map(super::nice_ceiling).to_vec();
        assert_eq!(ceilings, [1.0, 1.0, 1.0, 5.0, 20.0, 200.0, 1000.0]);
    }
}
