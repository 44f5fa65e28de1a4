//! ONNX Runtime: the one process-wide environment, execution-provider choice, and the
//! sessions of the graphs described in `models/README.md`.
//!
//! ONNX Runtime is loaded at run time (`ort`'s load-dynamic) so the plugin still
//! registers when the library is missing; every failure here becomes a `ModelError`
//! that the elements turn into an element error when they start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use ort::ep::{self, ExecutionProvider};
use ort::environment::Environment;
use ort::session::builder::SessionBuilder;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::RgbFrame;
use super::schedule::WINDOW_SLOTS;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("ONNX Runtime library could not be loaded: {0}")]
    Runtime(String),
    #[error("model file {0} does not exist (set the model-dir property or IMSM_MODEL_DIR)")]
    MissingModel(PathBuf),
    #[error("model {path} is not usable: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("execution provider {0}")]
    Provider(String),
    #[error("inference failed in {graph}: {reason}")]
    Run { graph: &'static str, reason: String },
}

/// Which ONNX Runtime execution provider runs the graphs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Provider {
    /// TensorRT, then CUDA, then CPU: the first one that starts.
    #[default]
    Auto,
    Cpu,
    Cuda,
    TensorRt,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Auto => "auto",
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Provider::Auto),
            "cpu" => Ok(Provider::Cpu),
            "cuda" => Ok(Provider::Cuda),
            "tensorrt" | "trt" => Ok(Provider::TensorRt),
            other => Err(format!("unknown provider '{other}' (auto, cpu, cuda, tensorrt)")),
        }
    }
}

/// How to build sessions.
#[derive(Clone, Debug, Default)]
pub struct SessionConfig {
    pub provider: Provider,
    pub device_id: i32,
    /// Intra-op threads; 0 lets ONNX Runtime decide.
    pub threads: usize,
    /// TensorRT's engine and timing caches; `None`: [`default_tensorrt_cache_dir`].
    pub tensorrt_cache_dir: Option<PathBuf>,
    /// TensorRT builds the synth graph in fp16. The down and reveal graphs (the two
    /// directions of the invertible network) always stay fp32.
    pub tensorrt_fp16: bool,
}

impl SessionConfig {
    pub fn tensorrt_cache_dir(&self) -> PathBuf {
        self.tensorrt_cache_dir.clone().unwrap_or_else(default_tensorrt_cache_dir)
    }
}

/// Where TensorRT keeps built engines and its timing cache unless told otherwise:
/// `$XDG_CACHE_HOME/gst-imsm/tensorrt`, else `$HOME/.cache/gst-imsm/tensorrt`, else
/// under the temporary directory. A second start with the same graphs, sizes and GPU
/// loads the engines from there instead of building them (which takes minutes).
pub fn default_tensorrt_cache_dir() -> PathBuf {
    tensorrt_cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

fn tensorrt_cache_dir_from(xdg_cache_home: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> PathBuf {
    let nonempty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    nonempty(xdg_cache_home)
        .or_else(|| nonempty(home).map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("gst-imsm")
        .join("tensorrt")
}

/// The loaded ONNX Runtime library and its environment, shared by every element instance.
pub struct Runtime {
    env: Environment,
    library: PathBuf,
    version: String,
}

impl Runtime {
    pub fn library(&self) -> &Path {
        &self.library
    }

    pub fn version(&self) -> &str {
        &self.version
    }
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Where the ONNX Runtime library is looked for, first match wins: the element's
/// property, `ORT_DYLIB_PATH`, the path the build was configured with
/// (`IMSM_ORT_DYLIB` at build time, else the copy `scripts/setup.sh` puts in the
/// source tree), then the system's loader path.
pub fn library_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        out.push(p.to_path_buf());
        return out;
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
        return out;
    }
    let built_in = env!("IMSM_ORT_DYLIB_DEFAULT");
    if !built_in.is_empty() {
        out.push(PathBuf::from(built_in));
    }
    out.push(PathBuf::from("libonnxruntime.so"));
    out
}

/// The process-wide runtime, loading the library on first use. A failed load is not
/// cached, so a later start with a corrected path can succeed.
pub fn runtime(explicit_library: Option<&Path>) -> Result<Arc<Runtime>, ModelError> {
    let mut guard = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = guard.as_ref() {
        return Ok(Arc::clone(rt));
    }
    let mut errors = Vec::new();
    for candidate in library_candidates(explicit_library) {
        // A bare file name goes to the system loader; a path must exist.
        if candidate.components().count() > 1 && !candidate.exists() {
            errors.push(format!("{}: no such file", candidate.display()));
            continue;
        }
        match ort::init_from(&candidate) {
            Ok(builder) => {
                let env = builder
                    .with_name("gst-imsm")
                    .build()
                    .map_err(|e| ModelError::Runtime(format!("{}: {e}", candidate.display())))?;
                let version = library_version(&candidate).unwrap_or_else(|| "(version not reported)".into());
                let rt = Arc::new(Runtime { env, library: candidate, version });
                *guard = Some(Arc::clone(&rt));
                return Ok(rt);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(ModelError::Runtime(format!(
        "{} (set the element's ort-library property or ORT_DYLIB_PATH to libonnxruntime.so 1.31)",
        errors.join("; ")
    )))
}

/// The version ONNX Runtime reports of itself (`OrtGetApiBase()->GetVersionString()`).
fn library_version(path: &Path) -> Option<String> {
    // SAFETY: the library was just loaded successfully by ort from the same path, so
    // opening it again only takes another reference; OrtGetApiBase has this signature in
    // every ONNX Runtime release and returns a static table whose version string is a
    // static NUL-terminated buffer.
    unsafe {
        let lib = libloading::Library::new(path).ok()?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase").ok()?;
        let base = get_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

/// What a session ended up running on, and what did not work on the way.
#[derive(Clone, Debug, Default)]
pub struct ProviderChoice {
    pub name: &'static str,
    /// Providers that were present but failed to start (auto only).
    pub fallbacks: Vec<String>,
}

fn provider_error(name: &str, rt: &Runtime, e: impl fmt::Display) -> ModelError {
    ModelError::Provider(format!("{name} could not be started with {}: {e}", rt.library.display()))
}

/// TensorRT's options for one graph: engine and timing caches in `cache_dir` (created
/// if missing), fp16 only where asked for this graph.
fn tensorrt_options(device_id: i32, cache_dir: &Path, fp16: bool) -> ep::TensorRT {
    let dir = cache_dir.display().to_string();
    ep::TensorRT::default()
        .with_device_id(device_id)
        .with_engine_cache(true)
        .with_engine_cache_path(&dir)
        .with_timing_cache(true)
        .with_timing_cache_path(&dir)
        .with_fp16(fp16)
}

fn register(
    builder: &mut SessionBuilder,
    rt: &Runtime,
    provider: Provider,
    config: &SessionConfig,
    graph: &str,
) -> Result<&'static str, ModelError> {
    let device_id = config.device_id;
    let (name, available, result) = match provider {
        Provider::TensorRt => {
            let dir = config.tensorrt_cache_dir();
            if matches!(ep::TensorRT::is_available(), Ok(true)) {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    provider_error("TensorRT", rt, format!("cache directory {}: {e}", dir.display()))
                })?;
            }
            let ep = tensorrt_options(device_id, &dir, config.tensorrt_fp16 && graph == SYNTH.graph);
            ("TensorRT", ep::TensorRT::is_available(), ep.register(builder))
        }
        Provider::Cuda => {
            let ep = ep::CUDA::default().with_device_id(device_id);
            ("CUDA", ep::CUDA::is_available(), ep.register(builder))
        }
        Provider::Cpu | Provider::Auto => return Ok("CPU"),
    };
    match available {
        Ok(true) => {}
        Ok(false) => {
            return Err(provider_error(name, rt, "this ONNX Runtime build does not include it (use onnxruntime-gpu)"));
        }
        Err(e) => return Err(provider_error(name, rt, e)),
    }
    result.map_err(|e| provider_error(name, rt, e))?;
    Ok(name)
}

fn session_builder(
    rt: &Runtime,
    config: &SessionConfig,
    graph: &str,
) -> Result<(SessionBuilder, ProviderChoice), ModelError> {
    let bad = |e: ort::Error| ModelError::Runtime(e.to_string());
    let mut builder = Session::builder(&rt.env).map_err(bad)?;
    if config.threads > 0 {
        builder = builder.with_intra_threads(config.threads).map_err(|e| bad(e.into()))?;
    }
    let mut choice = ProviderChoice { name: "CPU", fallbacks: Vec::new() };
    match config.provider {
        Provider::Auto => {
            for candidate in [Provider::TensorRt, Provider::Cuda] {
                let in_build = match candidate {
                    Provider::TensorRt => ep::TensorRT::is_available(),
                    _ => ep::CUDA::is_available(),
                };
                // Not compiled into this library: nothing to fall back from.
                if !matches!(in_build, Ok(true)) {
                    continue;
                }
                match register(&mut builder, rt, candidate, config, graph) {
                    Ok(name) => {
                        choice.name = name;
                        break;
                    }
                    Err(e) => choice.fallbacks.push(e.to_string()),
                }
            }
        }
        explicit => choice.name = register(&mut builder, rt, explicit, config, graph)?,
    }
    Ok((builder, choice))
}

/// Element type a graph input or output must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    F32,
    I64,
}

struct Port {
    name: &'static str,
    elem: Elem,
}

const fn port(name: &'static str, elem: Elem) -> Port {
    Port { name, elem }
}

/// The names and types one graph of the contract must have.
struct Contract {
    graph: &'static str,
    inputs: &'static [Port],
    optional_inputs: &'static [Port],
    outputs: &'static [Port],
}

/// The version of `models/README.md` this engine runs; a graph that states another
/// version in its `imsm.contract` metadata is refused with that in the message.
pub const CONTRACT_VERSION: &str = "2";

/// The down graph's per-slot frame inputs, slot k = `frame{k}`.
const FRAME_INPUTS: [&str; WINDOW_SLOTS] = ["frame0", "frame1", "frame2", "frame3", "frame4", "frame5", "frame6"];

const DOWN: Contract = Contract {
    graph: "down",
    inputs: &[
        port(FRAME_INPUTS[0], Elem::F32),
        port(FRAME_INPUTS[1], Elem::F32),
        port(FRAME_INPUTS[2], Elem::F32),
        port(FRAME_INPUTS[3], Elem::F32),
        port(FRAME_INPUTS[4], Elem::F32),
        port(FRAME_INPUTS[5], Elem::F32),
        port(FRAME_INPUTS[6], Elem::F32),
        port("offsets", Elem::F32),
        port("valid", Elem::F32),
        port("ratio", Elem::F32),
        port("out_size", Elem::I64),
    ],
    optional_inputs: &[port("quality", Elem::F32)],
    outputs: &[port("lr", Elem::F32)],
};

const REVEAL: Contract = Contract {
    graph: "reveal",
    inputs: &[port("lr", Elem::F32)],
    optional_inputs: &[port("imsm", Elem::F32)],
    outputs: &[port("features", Elem::F32)],
};

const SYNTH: Contract = Contract {
    graph: "synth",
    inputs: &[port("feat0", Elem::F32), port("feat1", Elem::F32), port("t", Elem::F32), port("out_size", Elem::I64)],
    optional_inputs: &[],
    outputs: &[port("frame", Elem::F32)],
};

/// One loaded graph, checked against its contract.
struct Graph {
    session: Session,
    name: &'static str,
    /// Optional inputs the graph declares.
    optional: Vec<&'static str>,
    kind: String,
}

fn elem_of(t: &ValueType) -> Option<Elem> {
    match t {
        ValueType::Tensor { ty: TensorElementType::Float32, .. } => Some(Elem::F32),
        ValueType::Tensor { ty: TensorElementType::Int64, .. } => Some(Elem::I64),
        _ => None,
    }
}

impl Graph {
    fn load(
        rt: &Runtime,
        dir: &Path,
        contract: &Contract,
        config: &SessionConfig,
    ) -> Result<(Self, ProviderChoice), ModelError> {
        let path = dir.join(format!("{}.onnx", contract.graph));
        if !path.is_file() {
            return Err(ModelError::MissingModel(path));
        }
        let bad = |reason: String| ModelError::BadModel { path: path.clone(), reason };
        let (mut builder, choice) = session_builder(rt, config, contract.graph)?;
        let session = builder.commit_from_file(&path).map_err(|e| bad(e.to_string()))?;
        let metadata = |key: &str| session.metadata().ok().and_then(|m| m.custom(key));
        if let Some(version) = metadata("imsm.contract").filter(|v| v != CONTRACT_VERSION) {
            return Err(bad(format!(
                "it follows model contract version {version}, this plugin runs version {CONTRACT_VERSION} \
                 (models/README.md; re-export it with training/reexport.py)"
            )));
        }
        let declared = |ports: &[ort::value::Outlet], p: &Port| -> Result<bool, ModelError> {
            match ports.iter().find(|o| o.name() == p.name) {
                None => Ok(false),
                Some(o) if elem_of(o.dtype()) == Some(p.elem) => Ok(true),
                Some(o) => Err(bad(format!("'{}' has type {:?}, the contract says {:?}", p.name, o.dtype(), p.elem))),
            }
        };
        for p in contract.inputs {
            if !declared(session.inputs(), p)? {
                return Err(bad(format!("required input '{}' is missing", p.name)));
            }
        }
        for p in contract.outputs {
            if !declared(session.outputs(), p)? {
                return Err(bad(format!("required output '{}' is missing", p.name)));
            }
        }
        let mut optional = Vec::new();
        for p in contract.optional_inputs {
            if declared(session.inputs(), p)? {
                optional.push(p.name);
            }
        }
        let known = |n: &str| contract.inputs.iter().chain(contract.optional_inputs).any(|p| p.name == n);
        if let Some(extra) = session.inputs().iter().find(|o| !known(o.name())) {
            return Err(bad(format!("input '{}' is not in the contract", extra.name())));
        }
        let kind = metadata("imsm.kind").unwrap_or_else(|| "unlabelled".to_string());
        Ok((Self { session, name: contract.graph, optional, kind }, choice))
    }

    fn declares(&self, input: &str) -> bool {
        self.optional.contains(&input)
    }

    fn run_err(&self, e: impl fmt::Display) -> ModelError {
        ModelError::Run { graph: self.name, reason: e.to_string() }
    }
}

/// The `out_size` input: (height, width).
fn size_tensor(w: usize, h: usize) -> [i64; 2] {
    [h as i64, w as i64]
}

/// imsmdown's graph: a window of input frames to one low-rate frame.
pub struct DownGraph {
    graph: Graph,
}

/// One input frame handed to [`DownGraph::run`].
pub struct WindowFrame<'a> {
    pub frame: &'a RgbFrame,
    /// Time relative to the output instant, in output frame intervals.
    pub offset: f32,
}

impl DownGraph {
    pub fn load(rt: &Runtime, dir: &Path, config: &SessionConfig) -> Result<(Self, ProviderChoice), ModelError> {
        let (graph, choice) = Graph::load(rt, dir, &DOWN, config)?;
        Ok((Self { graph }, choice))
    }

    /// `imsm.kind` from the graph's metadata ("reference", "trained", ...).
    pub fn kind(&self) -> &str {
        &self.graph.kind
    }

    /// Renders one output frame of `out_w` x `out_h` from up to [`WINDOW_SLOTS`]
    /// frames (all the same size, time order), `ratio` input frames per output frame.
    ///
    /// Each slot is its own graph input that borrows the frame's pixels, so an input
    /// frame shared by several windows is never copied into a window tensor.
    pub fn run(
        &mut self,
        window: &[WindowFrame<'_>],
        ratio: f32,
        quality: f32,
        out_w: usize,
        out_h: usize,
    ) -> Result<RgbFrame, ModelError> {
        let first = window.first().ok_or_else(|| self.graph.run_err("empty window"))?;
        let (w, h) = (first.frame.width, first.frame.height);
        if window.len() > WINDOW_SLOTS || window.iter().any(|f| f.frame.width != w || f.frame.height != h) {
            return Err(self.graph.run_err("window frames differ in size or are too many"));
        }
        let mut offsets = [0f32; WINDOW_SLOTS];
        let mut valid = [0f32; WINDOW_SLOTS];
        for (slot, f) in window.iter().enumerate() {
            offsets[slot] = f.offset;
            valid[slot] = 1.0;
        }
        let err = err_run("down");
        let offsets = TensorRef::from_array_view(([1usize, WINDOW_SLOTS], &offsets[..])).map_err(err)?;
        let valid = TensorRef::from_array_view(([1usize, WINDOW_SLOTS], &valid[..])).map_err(err)?;
        let ratio = [ratio];
        let ratio = TensorRef::from_array_view(([1usize], &ratio[..])).map_err(err)?;
        let size = size_tensor(out_w, out_h);
        let size = TensorRef::from_array_view(([2usize], &size[..])).map_err(err)?;
        let quality = [quality];
        let mut inputs = ort::inputs![
            "offsets" => offsets,
            "valid" => valid,
            "ratio" => ratio,
            "out_size" => size,
        ];
        for (slot, name) in FRAME_INPUTS.iter().enumerate() {
            // Empty slots repeat the last real frame, as the contract says.
            let frame = window[slot.min(window.len() - 1)].frame;
            let view = TensorRef::from_array_view(([1usize, 3, h, w], &frame.data[..])).map_err(err)?;
            inputs.push(((*name).into(), view.into()));
        }
        if self.graph.declares("quality") {
            inputs.push(("quality".into(), TensorRef::from_array_view(([1usize], &quality[..])).map_err(err)?.into()));
        }
        let outputs = self.graph.session.run(inputs).map_err(err_run("down"))?;
        let (shape, data) = outputs["lr"].try_extract_tensor::<f32>().map_err(err_run("down"))?;
        check_frame_shape("down", shape, out_w, out_h)?;
        Ok(RgbFrame { width: out_w, height: out_h, data: data.to_vec() })
    }
}

/// Cached result of the reveal graph for one received frame.
#[derive(Clone, Debug)]
pub struct Features {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// imsmup's graphs: reveal (once per received frame) and synth (once per output frame).
pub struct UpGraphs {
    reveal: Graph,
    synth: Graph,
}

impl UpGraphs {
    pub fn load(rt: &Runtime, dir: &Path, config: &SessionConfig) -> Result<(Self, ProviderChoice), ModelError> {
        let (reveal, choice) = Graph::load(rt, dir, &REVEAL, config)?;
        let (synth, _) = Graph::load(rt, dir, &SYNTH, config)?;
        Ok((Self { reveal, synth }, choice))
    }

    pub fn kind(&self) -> &str {
        &self.synth.kind
    }

    /// `imsm`: 1 = known imsmdown stream, 0 = known ordinary video, 0.5 = unknown.
    pub fn reveal(&mut self, lr: &RgbFrame, imsm: f32) -> Result<Features, ModelError> {
        let err = err_run("reveal");
        let input = TensorRef::from_array_view(([1usize, 3, lr.height, lr.width], &lr.data[..])).map_err(err)?;
        let hint = [imsm];
        let mut inputs = ort::inputs!["lr" => input];
        if self.reveal.declares("imsm") {
            inputs.push(("imsm".into(), TensorRef::from_array_view(([1usize], &hint[..])).map_err(err)?.into()));
        }
        let outputs = self.reveal.session.run(inputs).map_err(err_run("reveal"))?;
        let (shape, data) = outputs["features"].try_extract_tensor::<f32>().map_err(err_run("reveal"))?;
        if shape.len() != 4 || shape[0] != 1 {
            return Err(ModelError::Run { graph: "reveal", reason: format!("features have shape {shape:?}") });
        }
        Ok(Features { shape: shape.iter().map(|&d| d as usize).collect(), data: data.to_vec() })
    }

    /// Renders the frame at `t` in [0, 1] between the frames of `f0` and `f1`, `out_w` x `out_h`.
    pub fn synth(&mut self, f0: &Features, f1: &Features, t: f32, out_w: usize, out_h: usize) -> Result<RgbFrame, ModelError> {
        if f0.shape != f1.shape {
            return Err(ModelError::Run { graph: "synth", reason: "neighbouring frames differ in size".into() });
        }
        let err = err_run("synth");
        let feat0 = TensorRef::from_array_view((f0.shape.clone(), &f0.data[..])).map_err(err)?;
        let feat1 = TensorRef::from_array_view((f1.shape.clone(), &f1.data[..])).map_err(err)?;
        let t = [t];
        let t = TensorRef::from_array_view(([1usize], &t[..])).map_err(err)?;
        let size = size_tensor(out_w, out_h);
        let size = TensorRef::from_array_view(([2usize], &size[..])).map_err(err)?;
        let outputs = self
            .synth
            .session
            .run(ort::inputs!["feat0" => feat0, "feat1" => feat1, "t" => t, "out_size" => size])
            .map_err(err_run("synth"))?;
        let (shape, data) = outputs["frame"].try_extract_tensor::<f32>().map_err(err_run("synth"))?;
        check_frame_shape("synth", shape, out_w, out_h)?;
        Ok(RgbFrame { width: out_w, height: out_h, data: data.to_vec() })
    }
}

fn err_run(graph: &'static str) -> impl Fn(ort::Error) -> ModelError + Copy {
    move |e| ModelError::Run { graph, reason: e.to_string() }
}

fn check_frame_shape(graph: &'static str, shape: &[i64], w: usize, h: usize) -> Result<(), ModelError> {
    let expected = [1, 3, h as i64, w as i64];
    if shape != expected {
        return Err(ModelError::Run { graph, reason: format!("output shape {shape:?}, expected {expected:?}") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorrt_cache_dir_follows_xdg_then_home() {
        let dir = |x: Option<&str>, h: Option<&str>| tensorrt_cache_dir_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(dir(Some("/c"), Some("/h")), PathBuf::from("/c/gst-imsm/tensorrt"));
        assert_eq!(dir(Some(""), Some("/h")), PathBuf::from("/h/.cache/gst-imsm/tensorrt"));
        assert_eq!(dir(None, Some("/h")), PathBuf::from("/h/.cache/gst-imsm/tensorrt"));
        assert_eq!(dir(None, None), std::env::temp_dir().join("gst-imsm/tensorrt"));
        let explicit = SessionConfig { tensorrt_cache_dir: Some("/x".into()), ..Default::default() };
        assert_eq!(explicit.tensorrt_cache_dir(), PathBuf::from("/x"));
    }

    #[test]
    fn provider_names_parse_back() {
        for p in [Provider::Auto, Provider::Cpu, Provider::Cuda, Provider::TensorRt] {
            assert_eq!(p.name().parse::<Provider>(), Ok(p));
        }
        assert_eq!("TRT".parse::<Provider>(), Ok(Provider::TensorRt));
        assert!("rocm".parse::<Provider>().unwrap_err().contains("auto, cpu, cuda, tensorrt"));
    }
}
