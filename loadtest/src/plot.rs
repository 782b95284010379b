//! The latency plot: one SVG with a percentile curve per measurement (log-log, the HDR
//! histogram way), the echo floor dashed in the same colour as what it is the floor of, and
//! the headline numbers in the title, so a reader sees at a glance where the tail starts and
//! how far the server is above the floor.
//!
//! Below it, when the run has them: the time series of `--sample-every` (server RSS, open
//! fds, interval ack p50/p99, throughput, open sockets, errors and logins over time), and the
//! step table of `--find-max` / `--steps` (offered, sent and acknowledged rate per step; ack
//! p50/p99 per step against the bound).

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{Report, StepRun};
use crate::stats::Histograms;
use crate::timeline::Sample;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const TOP_HEIGHT: u32 = 650;
const TIMELINE_HEIGHT: u32 = 620;
const STEPS_HEIGHT: u32 = 340;

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

fn drawing_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {e}")
}

/// Draw the report's curves (and its time series and steps, if any) to `path`.
pub fn draw(
    path: &Path,
    report: &Report,
    hist: &Histograms,
    echo: Option<&Histograms>,
) -> anyhow::Result<()> {
    let r = &report.run;
    let steps = r.stepped.as_ref().filter(|s| !s.steps.is_empty());
    let height = TOP_HEIGHT
        + if r.samples.is_empty() {
            0
        } else {
            TIMELINE_HEIGHT
        }
        + if steps.is_some() { STEPS_HEIGHT } else { 0 };
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error)?;
    let (top, rest) = root.split_vertically(TOP_HEIGHT);
    draw_percentiles(&top, report, hist, echo)?;
    let rest = if r.samples.is_empty() {
        rest
    } else {
        let (timeline, rest) = rest.split_vertically(TIMELINE_HEIGHT);
        draw_timeline(&timeline, &r.samples)?;
        rest
    };
    if let Some(st) = steps {
        draw_steps(&rest, st)?;
    }
    root.present().map_err(drawing_error)?;
    Ok(())
}

/// The percentile curves, with the run's headline numbers in the title.
fn draw_percentiles(
    root: &Area<'_>,
    report: &Report,
    hist: &Histograms,
    echo: Option<&Histograms>,
) -> anyhow::Result<()> {
    let (orange, green, grey, blue) = (colour::ORANGE, colour::GREEN, colour::GREY, colour::BLUE);
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
        "{} sessions · {} · {:.0} s · {} · errors {}",
        r.sessions,
        report.load_label(),
        r.duration_secs,
        r.target,
        r.errors
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

    let err = |e: &dyn std::fmt::Display| drawing_error(e);
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
    Ok(())
}

/// A line of a small panel: legend name, points, colour.
type Line<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// One small chart of the time series or the steps.
struct Panel<'a> {
    title: &'a str,
    x_desc: &'a str,
    /// Latencies: y is drawn as log10 and labelled back in ms.
    log_y: bool,
    /// Points marked (steps), or a plain line (time series).
    markers: bool,
    lines: Vec<Line<'a>>,
    /// A dashed horizontal line (the p99 bound).
    bound: Option<f64>,
    /// The x range, when it must not shrink to the points drawn (every step, acked or not).
    x_span: Option<(f64, f64)>,
}

fn draw_panel(area: &Area<'_>, p: Panel<'_>) -> anyhow::Result<()> {
    let ty = |y: f64| if p.log_y { y.max(1e-3).log10() } else { y };
    let lines: Vec<Line> = p
        .lines
        .into_iter()
        .map(|(name, pts, c)| (name, pts.into_iter().map(|(x, y)| (x, ty(y))).collect(), c))
        .collect();
    let all = || {
        lines
            .iter()
            .flat_map(|l| l.1.iter())
            .chain(std::iter::empty())
    };
    let bound = p.bound.map(ty);
    let (mut x0, mut x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), pt| {
        (a.min(pt.0), b.max(pt.0))
    });
    let ys = all().map(|pt| pt.1).chain(bound);
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some((a, b)) = p.x_span {
        (x0, x1) = (a, b);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    // Linear panels start at 0. The top keeps ~40 % free, so the legend (upper left) does not
    // hide a flat line.
    if !p.log_y {
        y0 = y0.min(0.0);
    }
    let span = if y1 > y0 { y1 - y0 } else { 1.0 };
    (y0, y1) = if p.log_y {
        (y0 - span * 0.1, y1 + span * 0.7)
    } else {
        (y0, y1 + span * 0.7)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(drawing_error)?;
    let (log_y, markers) = (p.log_y, p.markers);
    chart
        .configure_mesh()
        .x_desc(p.x_desc)
        .x_labels(8)
        .x_label_formatter(&|x| {
            // Steps are numbered: no ticks between them.
            if markers && x.fract() != 0.0 {
                String::new()
            } else {
                compact(*x)
            }
        })
        .y_labels(6)
        .y_label_formatter(&|y| {
            if log_y {
                ms_label(10f64.powf(*y))
            } else {
                compact(*y)
            }
        })
        .draw()
        .map_err(drawing_error)?;
    if let Some(b) = bound {
        let style = RED.mix(0.6).stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(vec![(x0, b), (x1, b)], 8, 5, style))
            .map_err(drawing_error)?
            .label("bound")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (name, pts, color) in lines.into_iter().filter(|l| !l.1.is_empty()) {
        let style = color.stroke_width(2);
        let series = chart
            .draw_series(LineSeries::new(pts.clone(), style))
            .map_err(drawing_error)?;
        series
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if p.markers {
            chart
                .draw_series(pts.into_iter().map(|pt| Circle::new(pt, 3, color.filled())))
                .map_err(drawing_error)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

fn compact(y: f64) -> String {
    let a = y.abs();
    if a >= 1e6 {
        format!("{:.1}M", y / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", y / 1e3)
    } else if a >= 10.0 || y.fract() == 0.0 {
        format!("{y:.0}")
    } else {
        format!("{y:.2}")
    }
}

/// The plot's colours: one per kind of measurement, the same in every panel.
mod colour {
    use plotters::style::RGBColor;
    pub const BLUE: RGBColor = RGBColor(30, 90, 200);
    pub const ORANGE: RGBColor = RGBColor(230, 120, 20);
    pub const GREEN: RGBColor = RGBColor(30, 150, 60);
    pub const GREY: RGBColor = RGBColor(120, 120, 120);
    pub const PURPLE: RGBColor = RGBColor(130, 60, 170);
    pub const RED: RGBColor = RGBColor(200, 40, 40);
}

/// Six panels over time.
fn draw_timeline(area: &Area<'_>, samples: &[Sample]) -> anyhow::Result<()> {
    let series = |f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|s| f(s).map(|y| (s.t_secs, y)))
            .collect()
    };
    let mib = |b: Option<u64>| b.map(|b| b as f64 / 1048576.0);
    let cells = area.split_evenly((3, 2));
    let x = "seconds since the load started";
    let panels = [
        Panel {
            title: "memory (MiB)",
            x_desc: x,
            log_y: false,
            markers: false,
            lines: vec![
                (
                    "server RSS",
                    series(&|s| mib(s.server_rss_bytes)),
                    colour::BLUE,
                ),
                (
                    "load tester RSS",
                    series(&|s| mib(s.client_rss_bytes)),
                    colour::GREY,
                ),
            ],
            bound: None,
            x_span: None,
        },
        Panel {
            title: "server open file descriptors",
            x_desc: x,
            log_y: false,
            markers: false,
            lines: vec![(
                "fds",
                series(&|s| s.server_fds.map(|f| f as f64)),
                colour::PURPLE,
            )],
            bound: None,
            x_span: None,
        },
        Panel {
            title: "ack latency of each interval (ms, log)",
            x_desc: x,
            log_y: true,
            markers: false,
            lines: vec![
                (
                    "p99",
                    series(&|s| (s.acks_per_sec > 0.0).then_some(s.ack_p99_ms)),
                    colour::ORANGE,
                ),
                (
                    "p50",
                    series(&|s| (s.acks_per_sec > 0.0).then_some(s.ack_p50_ms)),
                    colour::BLUE,
                ),
            ],
            bound: None,
            x_span: None,
        },
        Panel {
            title: "throughput (per second)",
            x_desc: x,
            log_y: false,
            markers: false,
            lines: vec![
                ("sent", series(&|s| Some(s.sent_per_sec)), colour::GREY),
                ("acks", series(&|s| Some(s.acks_per_sec)), colour::GREEN),
            ],
            bound: None,
            x_span: None,
        },
        Panel {
            title: "open sockets",
            x_desc: x,
            log_y: false,
            markers: false,
            lines: vec![(
                "open",
                series(&|s| Some(s.open_sockets as f64)),
                colour::BLUE,
            )],
            bound: None,
            x_span: None,
        },
        Panel {
            title: "errors and REST logins per interval",
            x_desc: x,
            log_y: false,
            markers: false,
            lines: vec![
                ("errors", series(&|s| Some(s.errors as f64)), colour::RED),
                ("logins", series(&|s| Some(s.logins as f64)), colour::GREEN),
            ],
            bound: None,
            x_span: None,
        },
    ];
    for (cell, panel) in cells.iter().zip(panels) {
        draw_panel(cell, panel)?;
    }
    Ok(())
}

/// Two panels over the steps.
fn draw_steps(area: &Area<'_>, st: &StepRun) -> anyhow::Result<()> {
    let series = |f: &dyn Fn(&crate::report::StepReport) -> f64| -> Vec<(f64, f64)> {
        st.steps.iter().map(|s| (s.step as f64, f(s))).collect()
    };
    // A step with no ack in time has no latency to draw.
    let latency = |f: &dyn Fn(&crate::report::StepReport) -> f64| -> Vec<(f64, f64)> {
        st.steps
            .iter()
            .filter(|s| s.ack_ms.count > 0)
            .map(|s| (s.step as f64, f(s)))
            .collect()
    };
    let cells = area.split_evenly((1, 2));
    let x = "step";
    let span = Some((1.0, st.steps.len().max(2) as f64));
    let title = match st.knee_cmds_per_sec {
        Some(k) => format!("rate per step (cmd/s) · knee {k:.0} cmd/s"),
        None => "rate per step (cmd/s) · no step passed".to_string(),
    };
    let panels = [
        Panel {
            title: &title,
            x_desc: x,
            log_y: false,
            markers: true,
            lines: vec![
                ("offered", series(&|s| s.offered_cmds_per_sec), colour::GREY),
                ("sent", series(&|s| s.sent_per_sec), colour::BLUE),
                ("acknowledged", series(&|s| s.acks_per_sec), colour::GREEN),
            ],
            bound: None,
            x_span: span,
        },
        Panel {
            title: "ack latency per step, by send step (ms, log)",
            x_desc: x,
            log_y: true,
            markers: true,
            lines: vec![
                ("p99", latency(&|s| s.ack_ms.p99), colour::ORANGE),
                ("p50", latency(&|s| s.ack_ms.p50), colour::BLUE),
            ],
            bound: Some(st.p99_bound_ms),
            x_span: span,
        },
    ];
    for (cell, panel) in cells.iter().zip(panels) {
        draw_panel(cell, panel)?;
    }
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
