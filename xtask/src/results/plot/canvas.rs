//! Drawing one figure as both SVG and PNG, with the bundled font.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use anyhow::{anyhow, Result};
use plotters::{coord::Shift, prelude::*, style::FontStyle};

/// DejaVu Sans, drawn into PNGs on any machine (licence in `assets/fonts/LICENSE.md`).
static FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");

/// The font family every figure uses.
pub(super) const FAMILY: &str = "sans-serif";

/// The error type of drawing on a backend.
pub(super) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can be drawn on any backend.
pub(super) trait Figure {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold]
            .into_iter()
            .all(|style| plotters::style::register_font(FAMILY, style, FONT).is_ok())
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the bundled font assets/fonts/DejaVuSans.ttf is invalid"))
}

/// Writes `figure` to `<dir>/<stem>.svg` and `<dir>/<stem>.png`; returns both paths.
pub(super) fn write(
    figure: &impl Figure,
    dir: &Path,
    stem: &str,
    size: (u32, u32),
) -> Result<Vec<PathBuf>> {
    register_font()?;
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    let failed =
        |path: &Path, e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    {
        let area = SVGBackend::new(&svg, size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| failed(&svg, &e))?;
        figure.draw(&area).map_err(|e| failed(&svg, &e))?;
        area.present().map_err(|e| failed(&svg, &e))?;
    }
    {
        let area = BitMapBackend::new(&png, size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| failed(&png, &e))?;
        figure.draw(&area).map_err(|e| failed(&png, &e))?;
        area.present().map_err(|e| failed(&png, &e))?;
    }
    Ok(vec![svg, png])
}

/// The colour of series `i`.
pub(super) fn color(i: usize) -> RGBAColor {
    const COLORS: [RGBColor; 12] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
        RGBColor(0, 0, 128),
        RGBColor(127, 127, 127),
        RGBColor(0, 128, 128),
    ];
    COLORS[i % COLORS.len()].to_rgba()
}

/// Axis numbers: `20k`, `1.5M`, plain below 10 000.
pub(super) fn human(value: f64) -> String {
    let a = value.abs();
    if a >= 1e6 {
        format!("{}M", trim(value / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(value / 1e3))
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(human(0.0), "0");
        assert_eq!(human(2500.0), "2500");
        assert_eq!(human(20_000.0), "20k");
        assert_eq!(human(125_000.0), "125k");
        assert_eq!(human(1_500_000.0), "1.5M");
        assert_eq!(human(0.3), "0.3");
    }
}
