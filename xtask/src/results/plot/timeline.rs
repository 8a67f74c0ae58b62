//! One point over time: committed throughput per validator and latency, with the warm-up
//! shaded and fault events marked.

use plotters::{
    coord::{types::RangedCoordf64, Shift},
    prelude::*,
};

use super::{
    canvas::{color, human, DrawResult, Figure, FAMILY},
    legend::{self, Swatch},
    series::PointSeries,
};

/// Throughput (top) and latency (bottom) of one point over time.
pub(super) struct Timeline<'a> {
    pub series: &'a PointSeries,
    pub title: String,
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max)
}

const CRASH: RGBColor = RGBColor(200, 0, 0);
const RECOVER: RGBColor = RGBColor(0, 150, 60);
const WARMUP: RGBAColor = RGBAColor(0, 0, 0, 0.08);
const DISTURBED: RGBAColor = RGBAColor(230, 120, 0, 0.18);

/// Validator lines avoid the fault markers' red and green.
fn series_color(i: usize) -> RGBAColor {
    const SKIP_RED_GREEN: [usize; 10] = [0, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    color(SKIP_RED_GREEN[i % SKIP_RED_GREEN.len()])
}

/// Above this many validators, they share one colour and one legend entry.
const MAX_NAMED_VALIDATORS: usize = 10;

impl Timeline<'_> {
    fn x_max(&self) -> f64 {
        let s = self.series;
        let last = max_of(s.throughput.values().flatten().flatten().map(|p| p.0));
        let last = last.max(max_of(s.p50_ms.iter().map(|p| p.0)));
        last.max(max_of(s.faults.iter().map(|f| f.0))).max(1.0) * 1.02
    }

    /// The warm-up band and a vertical line per fault event.
    fn marks<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        x_max: f64,
        y_max: f64,
        labels: bool,
    ) -> DrawResult<DB> {
        if let Some(end) = self.series.warmup_end {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, 0.0), (end, y_max)],
                WARMUP.filled(),
            )))?;
        }
        chart.draw_series(
            self.series
                .disturbed
                .iter()
                .map(|&(from, to)| Rectangle::new([(from, 0.0), (to, y_max)], DISTURBED.filled())),
        )?;
        for (at, label) in &self.series.faults {
            let c = if label.starts_with("crash") {
                CRASH
            } else {
                RECOVER
            };
            chart.draw_series(DashedLineSeries::new(
                vec![(*at, 0.0), (*at, y_max)],
                6,
                4,
                c.stroke_width(2),
            ))?;
            if labels {
                chart.draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (*at + x_max * 0.006, y_max * 0.97),
                    (FAMILY, 14).into_font().color(&c),
                )))?;
            }
        }
        Ok(())
    }

    fn panel<'a, DB: DrawingBackend>(
        area: &'a DrawingArea<DB, Shift>,
        x_max: f64,
        y_max: f64,
        y_desc: &str,
    ) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc(y_desc)
            .y_label_formatter(&|v| human(*v))
            .axis_desc_style((FAMILY, 16))
            .label_style((FAMILY, 14))
            .light_line_style(WHITE)
            .draw()?;
        Ok(chart)
    }
}

impl Figure for Timeline<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let s = self.series;
        let area = area.titled(&self.title, (FAMILY, 22))?;
        let (width, height) = area.dim_in_pixel();
        let (plots, key) = area.split_horizontally(width.saturating_sub(legend::WIDTH));
        let (top, bottom) = plots.split_vertically(height / 2);
        let x_max = self.x_max();
        let mut entries = Vec::new();

        let y_max = max_of(s.throughput.values().flatten().flatten().map(|p| p.1)).max(1.0) * 1.15;
        let mut chart = Self::panel(&top, x_max, y_max, "committed (tx/s)")?;
        self.marks(&mut chart, x_max, y_max, true)?;
        let named = s.throughput.len() <= MAX_NAMED_VALIDATORS;
        for (i, (validator, segments)) in s.throughput.iter().enumerate() {
            let c = if named {
                series_color(i)
            } else {
                series_color(0).mix(0.5)
            };
            for segment in segments {
                chart.draw_series(LineSeries::new(segment.clone(), c.stroke_width(2)))?;
            }
            if named {
                entries.push((format!("validator {validator} (tx/s)"), Swatch::Line(c)));
            }
        }
        if !named {
            let label = format!("{} validators, one line each (tx/s)", s.throughput.len());
            entries.push((label, Swatch::Line(series_color(0))));
        }

        let y_max = max_of(s.p99_ms.iter().chain(&s.p50_ms).map(|p| p.1)).max(1.0) * 1.15;
        let mut chart = Self::panel(&bottom, x_max, y_max, "latency (ms)")?;
        self.marks(&mut chart, x_max, y_max, false)?;
        let (p50, p99) = (BLACK.to_rgba(), RGBColor(140, 140, 140).to_rgba());
        chart.draw_series(LineSeries::new(s.p50_ms.clone(), p50.stroke_width(2)))?;
        chart.draw_series(LineSeries::new(s.p99_ms.clone(), p99.stroke_width(2)))?;
        entries.push(("p50 latency (median)".into(), Swatch::Line(p50)));
        entries.push(("p99 latency (worst)".into(), Swatch::Line(p99)));
        entries.push((
            "warm-up (not measured)".into(),
            Swatch::Band(WARMUP.mix(2.0)),
        ));
        if !s.disturbed.is_empty() {
            entries.push(("disturbed (stall)".into(), Swatch::Band(DISTURBED.mix(2.0))));
        }
        if s.faults.iter().any(|f| f.1.starts_with("crash")) {
            entries.push(("crash".into(), Swatch::Dashed(CRASH.to_rgba())));
        }
        if s.faults.iter().any(|f| !f.1.starts_with("crash")) {
            entries.push(("recovery".into(), Swatch::Dashed(RECOVER.to_rgba())));
        }
        legend::draw(&key, None, &entries)
    }
}
