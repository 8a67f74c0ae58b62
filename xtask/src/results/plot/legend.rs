//! A legend drawn in its own pane beside the charts, so it never hides data.

use plotters::{coord::Shift, prelude::*};

use super::canvas::{DrawResult, FAMILY};

/// How an entry's sample looks.
#[derive(Clone, Copy)]
pub(super) enum Swatch {
    /// A solid line with a dot (a measured series).
    Line(RGBAColor),
    /// A dashed line (a reference or an event).
    Dashed(RGBAColor),
    /// A filled box (a band or a region).
    Band(RGBAColor),
    /// A cross (a published point, drawn beside ours).
    Cross(RGBAColor),
}

/// Width of the legend pane, pixels.
pub(super) const WIDTH: u32 = 270;

/// Draws `entries` top-down in `area`, under an optional heading.
pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: Option<&str>,
    entries: &[(String, Swatch)],
) -> DrawResult<DB> {
    let mut y = 64;
    if let Some(heading) = heading {
        area.draw(&Text::new(
            heading.to_string(),
            (8, y - 10),
            (FAMILY, 15).into_font(),
        ))?;
        y += 22;
    }
    for (label, swatch) in entries {
        let (x0, x1) = (10, 40);
        match *swatch {
            Swatch::Line(c) => {
                area.draw(&PathElement::new(vec![(x0, y), (x1, y)], c.stroke_width(2)))?;
                area.draw(&Circle::new(((x0 + x1) / 2, y), 3, c.filled()))?;
            }
            Swatch::Dashed(c) => {
                for start in (x0..x1).step_by(8) {
                    area.draw(&PathElement::new(
                        vec![(start, y), ((start + 5).min(x1), y)],
                        c.stroke_width(2),
                    ))?;
                }
            }
            Swatch::Band(c) => {
                area.draw(&Rectangle::new([(x0, y - 6), (x1, y + 6)], c.filled()))?;
            }
            Swatch::Cross(c) => {
                area.draw(&Cross::new(((x0 + x1) / 2, y), 6, c.stroke_width(2)))?;
            }
        }
        area.draw(&Text::new(
            label.clone(),
            (x1 + 8, y - 7),
            (FAMILY, 14).into_font(),
        ))?;
        y += 24;
    }
    Ok(())
}
