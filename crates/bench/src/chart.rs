//! The SVG chart, written by hand: two panels of horizontal bars (hit
//! throughput by concurrency; memocache's ratios against their goals on a
//! log scale). Hand-written rather than plotters because the chart is
//! categorical with per-row goal markers, which plotters' numeric
//! coordinate systems make awkward, and a few dozen `<rect>`/`<text>`
//! elements need no dependency at all (2-core machine).

use std::fmt::Write as _;

/// One group of bars, e.g. all subjects at concurrency 64.
pub struct BarGroup {
    /// The group's label, e.g. `"c64"`.
    pub label: String,
    /// `(series, value)` pairs; a series keeps its colour across groups.
    pub bars: Vec<(String, f64)>,
}

/// One ratio against its goal.
pub struct RatioRow {
    /// What is compared, e.g. `"hit latency vs raw GET, c1"`.
    pub label: String,
    /// memocache over the other.
    pub ratio: f64,
    /// The goal.
    pub goal: f64,
    /// Whether lower is better (a time) or higher (a throughput).
    pub lower_is_better: bool,
}

impl RatioRow {
    /// Whether the ratio meets its goal.
    pub fn met(&self) -> bool {
        if self.lower_is_better {
            self.ratio <= self.goal
        } else {
            self.ratio >= self.goal
        }
    }
}

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 250.0;
const PLOT_WIDTH: f64 = 560.0;
const BAR_HEIGHT: f64 = 16.0;
const PALETTE: [&str; 8] = [
    "#6b7280", "#9ca3af", "#2563eb", "#0ea5e9", "#8b5cf6", "#f59e0b", "#ef4444", "#f87171",
];

/// Renders the chart.
pub fn render(title: &str, subtitle: &str, groups: &[BarGroup], ratios: &[RatioRow]) -> String {
    let mut series: Vec<&str> = Vec::new();
    for group in groups {
        for (name, _) in &group.bars {
            if !series.contains(&name.as_str()) {
                series.push(name);
            }
        }
    }
    let colour = |name: &str| {
        let index = series.iter().position(|s| *s == name).unwrap_or(0);
        PALETTE[index % PALETTE.len()]
    };

    let mut body = String::new();
    let mut y = 70.0;
    // Panel 1: throughput.
    let _ = write!(
        body,
        r#"<text x="20" y="{y}" class="h">Hit throughput, 1 KiB value (ops/s, higher is better)</text>"#
    );
    y += 14.0;
    let mut x = LABEL_WIDTH;
    for name in &series {
        let width = 24.0 + 7.0 * name.chars().count() as f64;
        if x + width > WIDTH - 10.0 {
            x = LABEL_WIDTH;
            y += 18.0;
        }
        let _ = write!(
            body,
            r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{}" y="{}" class="s">{}</text>"#,
            colour(name),
            x + 16.0,
            y + 10.0,
            escape(name)
        );
        x += width;
    }
    y += 26.0;
    let max = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max)
        .max(1.0);
    for group in groups {
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" class="g" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 10.0,
            y + BAR_HEIGHT * group.bars.len() as f64 / 2.0 + 4.0,
            escape(&group.label)
        );
        for (name, value) in &group.bars {
            let width = (value / max * PLOT_WIDTH).max(1.0);
            let _ = write!(
                body,
                r#"<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width:.1}" height="{}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{}" class="s">{}</text>"#,
                BAR_HEIGHT - 3.0,
                colour(name),
                escape(name),
                thousands(*value),
                LABEL_WIDTH + width + 6.0,
                y + BAR_HEIGHT - 5.0,
                thousands(*value)
            );
            y += BAR_HEIGHT;
        }
        y += 10.0;
    }

    // Panel 2: ratios on a log2 scale.
    y += 20.0;
    let _ = write!(
        body,
        r#"<text x="20" y="{y}" class="h">memocache over the baseline, same run (log scale; mark = goal)</text>"#
    );
    y += 20.0;
    let top = ratios
        .iter()
        .map(|r| r.ratio.max(r.goal))
        .fold(4.0, f64::max)
        .log2()
        .ceil();
    let bottom = ratios
        .iter()
        .map(|r| r.ratio.min(r.goal))
        .fold(0.5, f64::min)
        .log2()
        .floor();
    let to_x =
        |ratio: f64| LABEL_WIDTH + (ratio.max(1e-9).log2() - bottom) / (top - bottom) * PLOT_WIDTH;
    let axis_top = y;
    for row in ratios {
        let (from, to) = (to_x(1.0), to_x(row.ratio));
        let fill = if row.met() { "#16a34a" } else { "#dc2626" };
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" class="s" text-anchor="end">{}</text><rect class="bar" x="{:.1}" y="{y}" width="{:.1}" height="{}" fill="{fill}"/><line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" class="goal"/><text x="{:.1}" y="{}" class="s">{:.2}× ({} {} {})</text>"#,
            LABEL_WIDTH - 10.0,
            y + 12.0,
            escape(&row.label),
            from.min(to),
            (to - from).abs().max(1.0),
            BAR_HEIGHT,
            to_x(row.goal),
            to_x(row.goal),
            y - 2.0,
            y + BAR_HEIGHT + 2.0,
            from.max(to) + 6.0,
            y + 12.0,
            row.ratio,
            if row.met() { "met" } else { "missed" },
            if row.lower_is_better { "≤" } else { "≥" },
            row.goal
        );
        y += BAR_HEIGHT + 10.0;
    }
    let mut tick = bottom;
    while tick <= top {
        let value = 2f64.powf(tick);
        let x = to_x(value);
        let _ = write!(
            body,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{y}" class="grid"/><text x="{x:.1}" y="{}" class="s" text-anchor="middle">{}×</text>"#,
            axis_top - 4.0,
            y + 14.0,
            if value < 1.0 {
                format!("{value}")
            } else {
                format!("{value:.0}")
            }
        );
        tick += 1.0;
    }
    y += 30.0;

    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" viewBox="0 0 {WIDTH} {y}" font-family="Helvetica, Arial, sans-serif"><style>.t{{font-size:20px;font-weight:bold}}.st{{font-size:12px;fill:#4b5563}}.h{{font-size:15px;font-weight:bold}}.g{{font-size:13px;font-weight:bold}}.s{{font-size:11px;fill:#111827}}.goal{{stroke:#111827;stroke-width:2}}.grid{{stroke:#d1d5db;stroke-width:1}}</style><rect width="100%" height="100%" fill="#ffffff"/><text x="20" y="30" class="t">{}</text><text x="20" y="50" class="st">{}</text>{body}</svg>
"##,
        escape(title),
        escape(subtitle)
    )
}

/// `value` rounded, with thin spaces between thousands.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let groups = vec![
            BarGroup {
                label: "c1".into(),
                bars: vec![("raw".into(), 30_000.0), ("memocache".into(), 28_000.0)],
            },
            BarGroup {
                label: "c64".into(),
                bars: vec![("raw".into(), 90_000.0), ("memocache <x>".into(), 85_000.0)],
            },
        ];
        let ratios = vec![
            RatioRow {
                label: "latency".into(),
                ratio: 1.05,
                goal: 1.10,
                lower_is_better: true,
            },
            RatioRow {
                label: "vs python".into(),
                ratio: 12.0,
                goal: 10.0,
                lower_is_better: false,
            },
        ];
        render("title", "sub & more", &groups, &ratios)
    }

    #[test]
    fn every_bar_is_drawn_and_text_is_escaped() {
        let svg = sample();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 4 + 2);
        assert!(svg.contains("memocache &lt;x&gt;") && svg.contains("sub &amp; more"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn goals_are_judged_in_their_direction() {
        let row = |ratio, lower_is_better| RatioRow {
            label: String::new(),
            ratio,
            goal: 1.1,
            lower_is_better,
        };
        assert!(row(1.0, true).met() && !row(1.2, true).met());
        assert!(row(1.2, false).met() && !row(1.0, false).met());
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
