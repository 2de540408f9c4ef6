//! Video frames for the MJPEG endpoint: real JPEGs that change over time.

use std::time::Instant;

use tether::Bytes;

/// Frames per second at which the picture changes (viewers asking for more
/// see repeats).
pub const SOURCE_FPS: u32 = 30;
const WIDTH: u16 = 320;
const HEIGHT: u16 = 240;

/// Encodes the current frame at most once per source frame, and shares it.
pub struct FrameSource {
    started: Instant,
    current: Option<(u64, Bytes)>,
}

impl FrameSource {
    pub fn new() -> Self {
        FrameSource {
            started: Instant::now(),
            current: None,
        }
    }

    /// The frame for `now`: its number and JPEG bytes.
    pub fn frame(&mut self, now: Instant) -> (u64, Bytes) {
        let index =
            (now.duration_since(self.started).as_millis() as u64 * SOURCE_FPS as u64) / 1000;
        match &self.current {
            Some((i, jpeg)) if *i == index => (index, jpeg.clone()),
            _ => {
                let jpeg = Bytes::from(encode(index));
                self.current = Some((index, jpeg.clone()));
                (index, jpeg)
            }
        }
    }
}

/// A moving gradient with a bar that sweeps across, so consecutive frames
/// differ visibly.
fn encode(index: u64) -> Vec<u8> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let bar = (index as usize * 4) % w;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let on_bar = x.abs_diff(bar) < 8;
            let r = if on_bar { 255 } else { (x * 255 / w) as u8 };
            let g = ((y * 255 / h) as u64 + index * 3) as u8;
            let b = if on_bar { 255 } else { (index * 7) as u8 };
            rgb.extend_from_slice(&[r, g, b]);
        }
    }
    let mut jpeg = Vec::with_capacity(16 * 1024);
    let encoder = jpeg_encoder::Encoder::new(&mut jpeg, 70);
    if let Err(err) = encoder.encode(&rgb, WIDTH, HEIGHT, jpeg_encoder::ColorType::Rgb) {
        // Encoding an in-memory buffer of the right size cannot fail; an
        // empty frame is still a valid part.
        log::error!("JPEG encoding failed: {err}");
    }
    jpeg
}
