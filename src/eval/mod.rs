//! Quality measurement used by imsm-eval (`src/bin/imsm-eval.rs`, `imsm-eval --help`).
//!
//! For every clip, setting (time ratio and size ratio) and channel (lossless or x264 at a
//! CRF), imsm-eval runs real GStreamer pipelines and compares each method's 60 fps
//! output with the source frame by frame:
//!
//! - `classic`: videoscale + videorate down and up (what a pipeline does today);
//! - `blend`: imsmup with the bicubic + linear-blend reference graphs, on the classic
//!   low-rate stream;
//! - `mci`: ffmpeg's minterpolate (mci) + bicubic, on the classic stream (skipped when
//!   ffmpeg is missing);
//! - `imsm-plain`: imsmup (default graphs) on the classic stream;
//! - `imsm-cover`: imsmup (default graphs, told `plain`) on imsmdown's cover: the
//!   reference down's plain downscale of the frames blended at each low-rate instant,
//!   nothing hidden (imsm minus imsm-cover is what the hiding itself gives);
//! - `imsm`: imsmdown -> channel -> imsmup;
//! - `direct`: the full-rate, full-size source through the channel.
//!
//! How the measurement is set up:
//!
//! - the clip's first N frames are decoded to RGB (`decodebin ! videoconvert`) and taken
//!   as 60 fps frames; that RGB is the reference. imsmdown is fed that RGB; the other
//!   methods are fed the same frames as I420 (BT.601 below 720 rows, BT.709 from 720
//!   up, limited range), as a decoder would hand them over;
//! - every YUV <-> RGB conversion the harness itself does (making that I420 source,
//!   turning outputs and received low-rate frames into RGB) uses the engine's colour
//!   code (`crate::engine::color`: exact matrices, rounding to nearest), not
//!   videoconvert, whose 8-bit RGB <-> YUV paths are biased by a few code values and
//!   would cap every method near 38 dB;
//! - outputs are I420 (classic, mci, direct) or RGB (imsmup, which renders RGB), so each
//!   method ends with exactly one conversion to RGB;
//! - output frames are placed on the 60 fps grid by timestamp (running time) and
//!   compared with source frame k; the low-rate streams are cut to the instants inside
//!   the source's span, and videorate / minterpolate get the last low-rate frame repeated
//!   after the end (never sent, never counted) so that, like imsmup, they hold it to the
//!   end instead of dropping its instants;
//! - PSNR is RGB PSNR from the pooled squared error (the definition ffmpeg's psnr filter
//!   uses for its overall value), SSIM the mean per-frame SSIM of luma, both over all,
//!   key (the low-rate stream has a frame at that instant) and in-between frames.
//!
//! Modules: [`settings`] (command-line vocabulary), [`pipelines`] (the GStreamer and
//! ffmpeg runs), [`metrics`] and [`score`] (PSNR / SSIM), [`report`] (results.json,
//! results.md with BD-rates from [`bdrate`], rd.png), [`cli`] (the command).

pub mod bdrate;
pub mod cli;
pub mod metrics;
pub mod pipelines;
pub mod report;
pub mod score;
pub mod settings;
