//! ASN × day heatmaps drawn with plotters' SVG backend: one panel per stage of one target,
//! the cell colour is the blocked (or failure) rate, the number in it the measurements
//! behind it, days without measurements are grey and numberless (never "0%"), and each
//! detected event is outlined on its network's row.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;

/// Widest the day axis gets, in columns: longer periods are binned into weeks, months…
const MAX_COLUMNS: i64 = 92;
/// Candidate bin widths in days.
const BIN_DAYS: [i64; 7] = [1, 7, 14, 28, 91, 182, 364];

const WIDTH: u32 = 1360;
const LABEL_AREA: u32 = 250;
const ROW_HEIGHT: u32 = 24;
const PANEL_CHROME: u32 = 58;

const NO_DATA: RGBColor = RGBColor(228, 228, 228);
const FONT: &str = "sans-serif";

/// The day axis of a country's heatmaps: `[start, start + columns × bin_days)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayAxis {
    pub start: NaiveDate,
    pub bin_days: i64,
    pub columns: i64,
}

impl DayAxis {
    /// The narrowest bins that fit `[first, last]` in [`MAX_COLUMNS`] columns.
    pub fn new(first: NaiveDate, last: NaiveDate) -> Self {
        let days = (last - first).num_days() + 1;
        let bin_days = BIN_DAYS
            .iter()
            .copied()
            .find(|b| (days + b - 1) / b <= MAX_COLUMNS)
            .unwrap_or(((days + MAX_COLUMNS - 1) / MAX_COLUMNS).max(1));
        DayAxis {
            start: first,
            bin_days,
            columns: (days + bin_days - 1) / bin_days,
        }
    }

    pub fn column(&self, day: NaiveDate) -> i64 {
        (day - self.start).num_days().div_euclid(self.bin_days)
    }

    fn label(&self, column: i64) -> String {
        let day = self.start + chrono::Duration::days(column * self.bin_days);
        if self.bin_days == 1 {
            day.format("%m-%d").to_string()
        } else {
            day.format("%Y-%m-%d").to_string()
        }
    }

    /// What one column is, for the caption.
    pub fn describe(&self) -> String {
        match self.bin_days {
            1 => "one column per day".to_owned(),
            n => format!("one column per {n} days"),
        }
    }
}

/// One stage panel: per row (network) and column, (measurements, positives); and the
/// event spans to outline, per row, as inclusive (first, last) columns.
pub(crate) struct Panel {
    pub title: String,
    pub cells: BTreeMap<(usize, i64), (u64, u64)>,
    pub events: Vec<(usize, i64, i64)>,
}

/// The colour of a rate: pale green (0) through orange (½) to red (1).
pub(crate) fn rate_color(rate: f64) -> RGBColor {
    let stops = [
        (0.0, (232, 245, 228)),
        (0.5, (253, 174, 97)),
        (1.0, (200, 20, 30)),
    ];
    let r = rate.clamp(0.0, 1.0);
    let (lo, hi) = if r <= 0.5 {
        (stops[0], stops[1])
    } else {
        (stops[1], stops[2])
    };
    let t = (r - lo.0) / (hi.0 - lo.0);
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(
        mix(lo.1.0, hi.1.0),
        mix(lo.1.1, hi.1.1),
        mix(lo.1.2, hi.1.2),
    )
}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ReportError {
    ReportError::Draw(e.to_string())
}

/// One SVG with a panel per stage, sharing rows (`row_labels`, top to bottom) and the
/// day axis.
pub(crate) fn render(
    axis: &DayAxis,
    row_labels: &[String],
    panels: &[Panel],
) -> Result<String, ReportError> {
    let rows = row_labels.len().max(1);
    let panel_height = PANEL_CHROME + ROW_HEIGHT * u32::try_from(rows).unwrap_or(u32::MAX / 64);
    let height = panel_height * u32::try_from(panels.len().max(1)).unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        let columns = i32::try_from(axis.columns).unwrap_or(i32::MAX);
        let nrows = i32::try_from(rows).unwrap_or(i32::MAX);
        for (area, panel) in areas.iter().zip(panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, (FONT, 18).into_font().color(&BLACK))
                .margin_left(6)
                .margin_right(14)
                .margin_top(4)
                .x_label_area_size(22)
                .y_label_area_size(LABEL_AREA)
                .build_cartesian_2d((0..columns).into_segmented(), (0..nrows).into_segmented())
                .map_err(draw_err)?;
            let (plot_w, plot_h) = chart.plotting_area().dim_in_pixel();
            let cell_width = f64::from(plot_w) / f64::from(columns.max(1));
            let cell_height = f64::from(plot_h) / f64::from(nrows.max(1));
            // Rows are drawn top to bottom in the order given.
            let row_of = |y: i32| usize::try_from(nrows - 1 - y).ok();
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(usize::try_from(columns.min(26)).unwrap_or(26))
                .y_labels(rows)
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(c) => axis.label(i64::from(*c)),
                    _ => String::new(),
                })
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(y) => row_of(*y)
                        .and_then(|r| row_labels.get(r))
                        .cloned()
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style((FONT, 15))
                .draw()
                .map_err(draw_err)?;
            let y_of = |row: usize| nrows - 1 - i32::try_from(row).unwrap_or(0);
            let at = |c: i64, row: usize| {
                let x = i32::try_from(c).unwrap_or(0);
                let y = y_of(row);
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y + 1)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y)),
                ]
            };
            // Every cell: grey for no data, else the rate's colour.
            let mut rects = Vec::new();
            for row in 0..rows {
                for c in 0..axis.columns {
                    let color = match panel.cells.get(&(row, c)) {
                        Some(&(n, k)) if n > 0 => rate_color(k as f64 / n as f64),
                        _ => NO_DATA,
                    };
                    let mut rect = Rectangle::new(at(c, row), color.filled());
                    // Thin white gaps so single cells stay readable.
                    rect.set_margin(1, 0, 0, 1);
                    rects.push(rect);
                }
            }
            chart.draw_series(rects).map_err(draw_err)?;
            // The measurement count in each measured cell, when it fits.
            if cell_width >= 12.0 {
                let mut texts = Vec::new();
                for (&(row, c), &(n, k)) in &panel.cells {
                    if n == 0 {
                        continue;
                    }
                    let rate = k as f64 / n as f64;
                    let color: &'static RGBColor = if rate > 0.6 { &WHITE } else { &BLACK };
                    let label = if cell_width >= 34.0 {
                        format!("{k}/{n}")
                    } else {
                        n.to_string()
                    };
                    let style = TextStyle::from((FONT, 13).into_font())
                        .color(color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    let x = i32::try_from(c).unwrap_or(0);
                    texts.push(
                        EmptyElement::at((
                            SegmentValue::Exact(x),
                            SegmentValue::Exact(y_of(row) + 1),
                        )) + Text::new(
                            label,
                            (
                                (cell_width / 2.0).round() as i32,
                                (cell_height / 2.0).round() as i32,
                            ),
                            style,
                        ),
                    );
                }
                chart.draw_series(texts).map_err(draw_err)?;
            }
            // Detected events: a dark outline over their days on their network's row.
            let outlines = panel.events.iter().map(|&(row, first, last)| {
                let [top_left, _] = at(first, row);
                let [_, bottom_right] = at(last, row);
                Rectangle::new([top_left, bottom_right], BLACK.stroke_width(2))
            });
            chart.draw_series(outlines).map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The colour legend: the rate scale, "no data", and the event outline.
pub(crate) fn legend(signal_label: &str) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 52)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let style = TextStyle::from((FONT, 15).into_font()).color(&BLACK);
        root.draw(&Text::new(signal_label.to_owned(), (0, 2), style.clone()))
            .map_err(draw_err)?;
        for i in 0..=100 {
            let x = i * 2;
            root.draw(&Rectangle::new(
                [(x, 18), (x + 2, 32)],
                rate_color(f64::from(i) / 100.0).filled(),
            ))
            .map_err(draw_err)?;
        }
        for (x, label) in [(0, "0%"), (92, "50%"), (176, "100%")] {
            root.draw(&Text::new(label, (x, 36), style.clone()))
                .map_err(draw_err)?;
        }
        root.draw(&Rectangle::new([(250, 18), (268, 32)], NO_DATA.filled()))
            .map_err(draw_err)?;
        root.draw(&Text::new("no measurement", (274, 19), style.clone()))
            .map_err(draw_err)?;
        root.draw(&Rectangle::new(
            [(400, 18), (440, 32)],
            rate_color(1.0).filled(),
        ))
        .map_err(draw_err)?;
        root.draw(&Rectangle::new(
            [(400, 18), (440, 32)],
            BLACK.stroke_width(2),
        ))
        .map_err(draw_err)?;
        root.draw(&Text::new(
            "detected blocking event    numbers in cells: measurements that day",
            (446, 19),
            style,
        ))
        .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn long_periods_are_binned_and_short_ones_are_daily() {
        let a = DayAxis::new(day("2020-09-24"), day("2020-11-12"));
        assert_eq!((a.bin_days, a.columns), (1, 50));
        let b = DayAxis::new(day("2014-01-01"), day("2023-12-31"));
        assert!(b.columns <= MAX_COLUMNS && b.bin_days > 28);
        assert_eq!(b.column(day("2014-01-01")), 0);
    }

    #[test]
    fn a_panel_is_svg_with_a_rect_per_cell_and_escaped_labels() {
        let axis = DayAxis::new(day("2020-09-24"), day("2020-09-30"));
        let mut cells = BTreeMap::new();
        cells.insert((0, 3), (2, 2));
        cells.insert((1, 3), (1, 0));
        let panel = Panel {
            title: "TLS".into(),
            cells,
            events: vec![(0, 3, 3)],
        };
        let svg = render(&axis, &["AS1 <evil>".into(), "AS2".into()], &[panel]).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.matches("<rect").count() >= 2 * 7);
        assert!(svg.contains("2/2"), "the counts are written in the cell");
        assert!(svg.contains("AS1 &lt;evil&gt;") && !svg.contains("<evil>"));
        assert!(rate_color(0.0) != rate_color(1.0));
    }
}
