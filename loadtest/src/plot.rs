//! The latency plot: one SVG with a percentile curve per measurement (log-log, the HDR
//! histogram way), the echo floor dashed in the same colour as what it is the floor of, and
//! the headline numbers in the title, so a reader sees at a glance where the tail starts and
//! how far the server is above the floor.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::report::Report;
use crate::stats::Histograms;

/// x runs over 1/(1−q): 1 is the median's left end (0%), 10 is p90, 100 p99, 10⁴ p99.99.
const X_MAX: f64 = 10_000.0;
const POINTS: usize = 160;

/// A legend name, its points and its colour.
type Series<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=POINTS)
        .map(|i| {
            let x = 10f64.powf(4.0 * i as f64 / POINTS as f64);
            let q = (1.0 - 1.0 / x).clamp(0.0, 1.0);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

fn percentile_label(x: f64) -> String {
    let q = (1.0 - 1.0 / x) * 100.0;
    let s = format!("{q:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

fn ms_label(y: f64) -> String {
    if y >= 1.0 {
        format!("{y:.0}")
    } else {
        let s = format!("{y:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// Draw the report's curves to `path`.
pub fn draw(
    path: &Path,
    report: &Report,
    hist: &Histograms,
    echo: Option<&Histograms>,
) -> anyhow::Result<()> {
    let orange = RGBColor(230, 120, 20);
    let green = RGBColor(30, 150, 60);
    let grey = RGBColor(120, 120, 120);
    let blue = RGBColor(30, 90, 200);
    // Fan-out first and wider, ack on top and thinner: when the two coincide (the usual case:
    // the event follows the ack within microseconds) both stay visible.
    let solid: Vec<Series> = vec![
        ("fan-out (tab A → tab B)", curve(&hist.fanout), orange),
        ("ack (send → ack)", curve(&hist.ack), blue),
        ("chat first token", curve(&hist.chat_first_token), green),
        ("connect (upgrade → welcome)", curve(&hist.connect), grey),
    ];
    let dashed: Vec<Series> = match echo {
        Some(e) => vec![
            ("echo floor: ack", curve(&e.ack), blue),
            ("echo floor: fan-out", curve(&e.fanout), orange),
            (
                "echo floor: chat first token",
                curve(&e.chat_first_token),
                green,
            ),
        ],
        None => Vec::new(),
    };
    let all = || {
        solid
            .iter()
            .chain(dashed.iter())
            .flat_map(|(_, pts, _)| pts.iter())
    };
    let y_min = all().map(|p| p.1).fold(f64::INFINITY, f64::min).max(0.001);
    let y_max = all().map(|p| p.1).fold(0.0, f64::max).max(y_min * 10.0);
    let (y_lo, y_hi) = if y_min.is_finite() {
        (y_min / 1.5, y_max * 1.5)
    } else {
        (0.01, 100.0)
    };

    let r = &report.run;
    let title = format!(
        "{} sessions · {} cmd/s each · {:.0} s · {} · errors {}",
        r.sessions, r.rate_per_session, r.duration_secs, r.target, r.errors
    );
    let mut sub = if r.ack_ms.count > 0 {
        format!("ack p99 {:.2} ms, max {:.1} ms", r.ack_ms.p99, r.ack_ms.max)
    } else {
        format!("connect p99 {:.2} ms", r.connect_ms.p99)
    };
    if let Some(x) = report.ack_p99_vs_echo {
        sub.push_str(&format!(" ({x:.1}× echo floor)"));
    }
    if r.fanout_ms.count > 0 {
        sub.push_str(&format!(" · fan-out p99 {:.2} ms", r.fanout_ms.p99));
    }
    if r.chat_first_token_ms.count > 0 {
        sub.push_str(&format!(
            " · chat first token p99 {:.1} ms",
            r.chat_first_token_ms.p99
        ));
    }
    if let Some(per) = r.server_rss_per_session_bytes {
        sub.push_str(&format!(" · {:.1} KiB server RSS/session", per / 1024.0));
    }

    let root = SVGBackend::new(path, (1100, 650)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(&title, ("sans-serif", 22))
        .map_err(|e| err(&e))?;
    let root = root.titled(&sub, ("sans-serif", 16)).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..X_MAX).log_scale(), (y_lo..y_hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile of requests")
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| ms_label(*y))
        .draw()
        .map_err(|e| err(&e))?;
    for (name, pts, color) in solid.into_iter().filter(|s| !s.1.is_empty()) {
        let style = color.stroke_width(if color == orange { 6 } else { 2 });
        chart
            .draw_series(LineSeries::new(pts, style))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    for (name, pts, color) in dashed.into_iter().filter(|s| !s.1.is_empty()) {
        let style = color.mix(0.7).stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(pts, 8, 5, style))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 8, y), (x + 13, y), (x + 24, y)], style)
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(grey)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_percentiles() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(10000.0), "99.99%");
        assert_eq!(ms_label(0.5), "0.5");
        assert_eq!(ms_label(20.0), "20");
    }
}
