//! A self-contained HTML page of the history report: no scripts or styles
//! from elsewhere, charts drawn as inline SVG, and the report's data
//! embedded as JSON (`<script type="application/json" id="report-data">`)
//! so the charts can be checked against it.

use super::timeline::{HistoryReport, ImageTimeline, Summary};
use crate::model::Severity;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const PAD: f64 = 28.0;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#8b0000",
        Severity::High => "#d9372b",
        Severity::Medium => "#e8a33d",
        Severity::Low => "#3b82c4",
        Severity::Unknown => "#8a8a8a",
    }
}

/// One polyline per severity: open findings after each scan.
fn open_chart(timeline: &ImageTimeline) -> String {
    let points = &timeline.points;
    let max = points
        .iter()
        .flat_map(|p| p.open.values())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = if points.len() > 1 {
        (WIDTH - 2.0 * PAD) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| PAD + step * i as f64;
    let y = |n: usize| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * (n as f64 / max);
    let mut svg = format!(
        "<svg class=\"chart open-findings\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"open findings of {} by severity\">",
        escape(&timeline.image)
    );
    svg.push_str(&format!(
        "<line x1=\"{PAD}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>\
         <text x=\"2\" y=\"{2}\" font-size=\"10\">{3}</text>",
        HEIGHT - PAD,
        WIDTH - PAD,
        PAD,
        max as usize
    ));
    for severity in Severity::ALL.iter().rev() {
        let series: Vec<usize> = points
            .iter()
            .map(|p| p.open.get(severity).copied().unwrap_or(0))
            .collect();
        let coords: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{:.1},{:.1}", x(i), y(*n)))
            .collect();
        svg.push_str(&format!(
            "<polyline data-severity=\"{}\" data-values=\"{}\" fill=\"none\" stroke=\"{}\" \
             stroke-width=\"2\" points=\"{}\"/>",
            severity.as_str(),
            series
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
            severity_colour(*severity),
            coords.join(" ")
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn summary_row(label: &str, s: &Summary) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(label),
        s.opened,
        s.fixed,
        s.open,
        s.overdue,
        s.mean_hours_to_remediate
            .map(|h| format!("{h:.1} h"))
            .unwrap_or_else(|| "–".into())
    )
}

/// Renders the whole page.
pub fn render(report: &HistoryReport) -> String {
    let data = serde_json::to_string(report)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>scangate: findings over time</title><style>\
         body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
         table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\
         td:first-child,th:first-child{text-align:left}.legend span{margin-right:1rem}\
         .chart{width:100%;max-width:640px;background:#fafafa;border:1px solid #eee}\
         </style></head><body>",
    );
    html.push_str(&format!(
        "<h1>Findings over time</h1><p>Generated {}.</p><p class=\"legend\">",
        escape(&report.generated_at)
    ));
    for severity in Severity::ALL.iter().rev() {
        html.push_str(&format!(
            "<span style=\"color:{}\">&#9632; {}</span>",
            severity_colour(*severity),
            severity.as_str()
        ));
    }
    html.push_str(
        "</p><table id=\"summary\"><tr><th>Image</th><th>Opened</th><th>Fixed</th><th>Open</th>\
         <th>Overdue</th><th>Mean time to remediate</th></tr>",
    );
    for image in &report.images {
        html.push_str(&summary_row(&image.image, &image.summary));
    }
    html.push_str(&summary_row("All images", &report.overall));
    html.push_str("</table>");
    for image in &report.images {
        html.push_str(&format!(
            "<section class=\"image\"><h2>{}</h2><p>{} scans; open findings after each scan:</p>{}</section>",
            escape(&image.image),
            image.scans,
            open_chart(image)
        ));
    }
    html.push_str(&format!(
        "<script type=\"application/json\" id=\"report-data\">{data}</script></body></html>\n"
    ));
    html
}
