//! Bar charts as inline SVG, drawn on the server: no script, and colours as
//! presentation attributes (the CSP allows no inline style). Each chart has
//! a title and a description; the page's table holds the same numbers.

use std::fmt::Write;

/// One series of a (stacked) bar chart.
pub struct Series {
    pub name: &'static str,
    pub color: &'static str,
    pub values: Vec<f64>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round axis maximum at or above `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Stacked bars, one per label. `unit` follows the axis maximum ("%", " h").
pub fn bars(
    id: &str,
    title: &str,
    description: &str,
    labels: &[String],
    series: &[Series],
    unit: &str,
    fixed_max: Option<f64>,
) -> String {
    const W: f64 = 640.0;
    const H: f64 = 230.0;
    const LEFT: f64 = 44.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 56.0;
    let plot_h = H - TOP - BOTTOM;
    let plot_w = W - LEFT - 8.0;
    let n = labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = fixed_max.unwrap_or_else(|| nice_max(totals.iter().copied().fold(0.0, f64::max)));
    let y = |v: f64| TOP + plot_h - (v / max).clamp(0.0, 1.0) * plot_h;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.6).max(2.0);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"##,
        escape(title),
        escape(description)
    );
    // Axis: zero, the half and the maximum.
    for v in [0.0, max / 2.0, max] {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0cdc4" stroke-width="1"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#57534a">{}{}</text>"##,
            W - 8.0,
            LEFT - 4.0,
            y(v) + 4.0,
            trim_number(v),
            unit,
            y = y(v)
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = 0.0;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            if v > 0.0 {
                let top = y(base + v);
                let height = y(base) - top;
                let _ = write!(
                    svg,
                    r##"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{height:.1}" fill="{}"><title>{}: {} {}</title></rect>"##,
                    s.color,
                    escape(label),
                    trim_number(v),
                    escape(s.name)
                );
            }
            base += v;
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#57534a">{}</text>"##,
            x + bar_w / 2.0,
            H - BOTTOM + 15.0,
            escape(label)
        );
    }
    // Legend.
    let mut lx = LEFT;
    for s in series.iter().filter(|_| series.len() > 1) {
        let _ = write!(
            svg,
            r##"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#1f1d1a">{}</text>"##,
            H - 22.0,
            s.color,
            lx + 16.0,
            H - 12.0,
            escape(s.name)
        );
        lx += 28.0 + 7.0 * s.name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// `12`, `2.5`: no trailing zeros.
pub fn trim_number(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(230.0), 250.0);
    }

    #[test]
    fn a_chart_is_labelled_and_escapes_text() {
        let svg = bars(
            "c",
            "A <title>",
            "desc & more",
            &["Jan".into(), "Feb".into()],
            &[Series {
                name: "yes",
                color: "#2da44e",
                values: vec![1.0, 3.0],
            }],
            "",
            None,
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title id=\"c-title\">A &lt;title&gt;</title>"));
        assert!(svg.contains("desc &amp; more"));
        assert!(svg.contains("fill=\"#2da44e\""));
        assert!(!svg.contains("style="));
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
