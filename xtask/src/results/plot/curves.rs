//! The L-graph (latency vs committed throughput) and committed vs offered load.

use plotters::{
    coord::{types::RangedCoordf64, Shift},
    prelude::*,
};

use super::{
    canvas::{color, human, DrawResult, Figure, FAMILY},
    legend::{self, Swatch},
    series::Curve,
};
use crate::results::published::PublishedPoint;

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max)
}

/// A chart pane and its legend pane.
type Panes<DB> = (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>);

/// The chart pane and the legend pane of a figure, under its title.
fn panes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<Panes<DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let area = area.titled(title, (FAMILY, 24))?;
    let width = area.dim_in_pixel().0;
    Ok(area.split_horizontally(width.saturating_sub(legend::WIDTH)))
}

/// A chart of two linear axes.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart with both axes from 0, labelled `x_desc` and `y_desc`, numbers shortened.
fn chart_with_axes<'a, DB: DrawingBackend>(
    plot: &'a DrawingArea<DB, Shift>,
    x_max: f64,
    y_max: f64,
    x_desc: &str,
    y_desc: &str,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(plot)
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| human(*v))
        .y_label_formatter(&|v| human(*v))
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 15))
        .light_line_style(WHITE)
        .draw()?;
    Ok(chart)
}

/// Latency against committed throughput: one line per curve (p50) with a band up to p99,
/// and published points (p50 as a cross, p99 as a hollow cross above it) labelled as such.
pub(super) struct LatencyThroughput<'a> {
    pub curves: &'a [Curve],
    pub published: &'a [PublishedPoint],
    pub title: String,
}

impl Figure for LatencyThroughput<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (plot, key) = panes(area, &self.title)?;
        let points = || self.curves.iter().flat_map(|c| c.points.iter());
        // Published points without a latency cannot be placed on this figure.
        let published: Vec<&PublishedPoint> = self
            .published
            .iter()
            .filter(|p| p.latency_p50_s.is_some())
            .collect();
        let x_max = max_of(
            points()
                .map(|p| p.throughput)
                .chain(published.iter().map(|p| p.committed_tps)),
        )
        .max(1.0)
            * 1.08;
        let y_max = max_of(
            points().filter_map(|p| p.p99_ms.or(p.p50_ms)).chain(
                published
                    .iter()
                    .filter_map(|p| p.latency_p99_s.or(p.latency_p50_s).map(|s| s * 1000.0)),
            ),
        )
        .max(1.0)
            * 1.1;
        let mut chart = chart_with_axes(
            &plot,
            x_max,
            y_max,
            "committed throughput (tx/s)",
            "latency (ms)",
        )?;
        let mut entries = Vec::new();
        for (i, curve) in self.curves.iter().enumerate() {
            let c = color(i);
            let at = |f: fn(&super::series::CurvePoint) -> Option<f64>| -> Vec<(f64, f64)> {
                curve
                    .points
                    .iter()
                    .filter_map(|p| Some((p.throughput, f(p)?)))
                    .collect()
            };
            let p50 = at(|p| p.p50_ms);
            let p99 = at(|p| p.p99_ms);
            let band: Vec<(f64, f64)> = p50.iter().chain(p99.iter().rev()).copied().collect();
            if band.len() > 2 {
                chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?;
            }
            chart.draw_series(DashedLineSeries::new(p99, 6, 4, c.mix(0.7).stroke_width(1)))?;
            chart.draw_series(LineSeries::new(p50.clone(), c.stroke_width(2)))?;
            chart.draw_series(p50.into_iter().map(|p| Circle::new(p, 4, c.filled())))?;
            entries.push((curve.label.clone(), Swatch::Line(c)));
        }
        let mut labels: Vec<&str> = published.iter().map(|p| p.label.as_str()).collect();
        labels.dedup();
        for (i, label) in labels.into_iter().enumerate() {
            let c = color(self.curves.len() + i);
            for p in published.iter().filter(|p| p.label == label) {
                let at = |s: f64| (p.committed_tps, s * 1000.0);
                if let Some(p50) = p.latency_p50_s {
                    chart.draw_series(std::iter::once(Cross::new(
                        at(p50),
                        7,
                        c.stroke_width(3),
                    )))?;
                }
                if let Some(p99) = p.latency_p99_s {
                    chart.draw_series(std::iter::once(Cross::new(
                        at(p99),
                        5,
                        c.stroke_width(1),
                    )))?;
                }
            }
            entries.push((format!("published: {label}"), Swatch::Cross(c)));
        }
        entries.push(("line: p50 latency".into(), Swatch::Line(BLACK.mix(0.6))));
        entries.push((
            "band up to dashes: p99".into(),
            Swatch::Band(BLACK.mix(0.15)),
        ));
        legend::draw(&key, Some("medians of repeats"), &entries)
    }
}

/// Committed throughput against offered load, with the ideal `committed = offered` line.
pub(super) struct ThroughputLoad<'a> {
    pub curves: &'a [Curve],
    pub title: String,
}

impl Figure for ThroughputLoad<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (plot, key) = panes(area, &self.title)?;
        let points = || self.curves.iter().flat_map(|c| c.points.iter());
        let x_max = max_of(points().map(|p| p.load as f64)).max(1.0) * 1.08;
        let y_max = max_of(points().map(|p| p.throughput)).max(x_max / 1.08) * 1.08;
        let mut chart = chart_with_axes(
            &plot,
            x_max,
            y_max,
            "offered load (tx/s)",
            "committed throughput (tx/s)",
        )?;
        let grey = BLACK.mix(0.45);
        chart.draw_series(DashedLineSeries::new(
            vec![(0.0, 0.0), (x_max, x_max)],
            8,
            6,
            grey.stroke_width(1),
        ))?;
        let mut entries = Vec::new();
        for (i, curve) in self.curves.iter().enumerate() {
            let c = color(i);
            let line: Vec<(f64, f64)> = curve
                .points
                .iter()
                .map(|p| (p.load as f64, p.throughput))
                .collect();
            chart.draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))?;
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 4, c.filled())))?;
            entries.push((curve.label.clone(), Swatch::Line(c)));
        }
        entries.push(("committed = offered".into(), Swatch::Dashed(grey)));
        legend::draw(&key, Some("medians of repeats"), &entries)
    }
}
