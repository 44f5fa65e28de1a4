//! imsm-eval: measures imsmdown/imsmup against what pipelines do today (videoscale +
//! videorate), bicubic + blending and ffmpeg's motion interpolation, on the user's own
//! clips, through lossless and x264 channels. See `imsm-eval --help` and `src/eval/`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(gstimsm::eval::cli::main_with_args(&args));
}
