//! imsm-bench: frames per second of imsmdown / imsmup, the engine alone and through the
//! elements, with start time and peak memory. See `imsm-bench --help` and `src/bench.rs`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(gstimsm::bench::main_with_args(&args));
}
