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
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::SessionBuilder;
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Tensor, TensorElementType, TensorValueType, Value, ValueType, ValueTypeMarker};

use super::color::{self, Colorimetry, Yuv420};
use super::RgbFrame;
use super::motion::{Alignment, Shift};
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
    /// Where Y'CbCr <-> R'G'B' conversion of 4:2:0 frames runs.
    pub colour: ColourMode,
}

/// Where 4:2:0 Y'CbCr frames are converted to and from the graphs' R'G'B'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColourMode {
    /// By the colour graphs when the graphs run on a GPU (only 8-bit planes cross the
    /// bus), on the host otherwise.
    #[default]
    Auto,
    /// Always on the host (src/engine/color.rs).
    Host,
    /// Always by the colour graphs, on whatever device the graphs run on.
    Graphs,
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

/// Where a session reads and writes its pixel and feature tensors: host memory for the
/// CPU provider, the GPU's own memory for CUDA and TensorRT.
///
/// Tensors are placed once and then bound (ONNX Runtime I/O binding) to every run that
/// needs them: an input frame is uploaded once however many down windows it is in, and
/// reveal's features stay on the GPU for every synth run between two received frames,
/// instead of going to the host and back for each output frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Host,
    Cuda { device_id: i32 },
}

impl Placement {
    fn of(choice: &ProviderChoice, device_id: i32) -> Self {
        match choice.name {
            "CUDA" | "TensorRT" => Placement::Cuda { device_id },
            _ => Placement::Host,
        }
    }

    /// Where outputs that stay with the graphs (reveal's features) are allocated.
    fn device_memory(self) -> ort::Result<MemoryInfo<'static>> {
        match self {
            Placement::Host => MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default),
            Placement::Cuda { device_id } => {
                MemoryInfo::new(AllocationDevice::CUDA, device_id, AllocatorType::Device, MemoryType::Default)
            }
        }
    }

    /// Moves a host tensor to where the session reads it; on the host it stays as it is
    /// (the tensor owns the frame's buffer, no copy).
    fn place(self, host: Tensor<f32>) -> ort::Result<Tensor<f32>> {
        match self {
            Placement::Host => Ok(host),
            Placement::Cuda { device_id } => host.to(AllocationDevice::CUDA, device_id),
        }
    }
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
    if provider == Provider::TensorRt && matches!(ep::CUDA::is_available(), Ok(true)) {
        // Nodes TensorRT does not take run on CUDA, not on the CPU (with copies each way).
        ep::CUDA::default().with_device_id(device_id).register(builder).map_err(|e| provider_error("CUDA (beside TensorRT)", rt, e))?;
    }
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
    optional_inputs: &[port("shift0", Elem::I64), port("shift1", Elem::I64), port("index0", Elem::I64), port("index1", Elem::I64)],
    outputs: &[port("frame", Elem::F32)],
};

/// One loaded graph, checked against its contract.
struct Graph {
    session: Session,
    /// Inputs and outputs of the next run, bound to tensors where the session wants them.
    binding: IoBinding,
    placement: Placement,
    /// Where outputs that stay with the graphs are allocated (`placement`'s device).
    device_memory: MemoryInfo<'static>,
    name: &'static str,
    /// Optional inputs the graph declares.
    optional: Vec<&'static str>,
    kind: String,
    /// Size (w, h) of the host tensor the frame output is bound to, if bound.
    bound_frame: Option<(usize, usize)>,
}

fn elem_of(t: &ValueType) -> Option<Elem> {
    match t {
        ValueType::Tensor { ty: TensorElementType::Float32, .. } => Some(Elem::F32),
        ValueType::Tensor { ty: TensorElementType::Int64, .. } => Some(Elem::I64),
        _ => None,
    }
}

/// Runs what `binding` holds and hands the outputs to `read`; then releases the inputs,
/// whether the run succeeded or not, so that no frame stays alive in the binding.
fn run_bound<T>(
    session: &mut Session,
    binding: &mut IoBinding,
    graph: &'static str,
    read: impl FnOnce(ort::session::SessionOutputs<'_>) -> Result<T, ModelError>,
) -> Result<T, ModelError> {
    let result = match session.run_binding(binding) {
        Ok(outputs) => read(outputs),
        Err(e) => Err(ModelError::Run { graph, reason: e.to_string() }),
    };
    binding.clear_inputs();
    result
}

/// Like [`run_bound`], with output `name` in a fresh allocation at `memory` (the graphs'
/// device), returned as it is: the previous run's output stays valid for whoever holds it.
fn run_to_fresh_output(
    session: &mut Session,
    binding: &mut IoBinding,
    graph: &'static str,
    name: &'static str,
    memory: &MemoryInfo<'_>,
) -> Result<DynValue, ModelError> {
    let err = |reason: String| ModelError::Run { graph, reason };
    binding.bind_output_to_device(name, memory).map_err(|e| err(e.to_string()))?;
    run_bound(session, binding, graph, |mut outputs| {
        outputs.remove(name).ok_or_else(|| err(format!("output '{name}' missing")))
    })
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
        let binding = session.create_binding().map_err(|e| bad(format!("cannot create an I/O binding: {e}")))?;
        let placement = Placement::of(&choice, config.device_id);
        let device_memory = placement.device_memory().map_err(|e| bad(e.to_string()))?;
        let graph =
            Self { session, binding, placement, device_memory, name: contract.graph, optional, kind, bound_frame: None };
        Ok((graph, choice))
    }

    fn declares(&self, input: &str) -> bool {
        self.optional.contains(&input)
    }

    fn run_err(&self, e: impl fmt::Display) -> ModelError {
        ModelError::Run { graph: self.name, reason: e.to_string() }
    }

    /// Binds a small host input (time, sizes, flags), copied into a tensor it owns.
    fn bind_small<T: ort::value::PrimitiveTensorElementType + Clone + fmt::Debug + 'static>(
        &mut self,
        name: &'static str,
        values: &[T],
    ) -> Result<(), ModelError> {
        let tensor = Tensor::from_array(([values.len()], values.to_vec())).map_err(|e| self.run_err(e))?;
        self.binding.bind_input(name, &tensor).map_err(|e| self.run_err(e))
    }

    /// Binds output `name` to a host tensor of [1, 3, h, w], allocated again only when the
    /// size changes: the graph writes every frame there. Pageable memory under CUDA too
    /// (ONNX Runtime copies the result out of the provider's buffer): bound to page-locked
    /// memory (CUDA_PINNED, CPUOutput), ONNX Runtime 1.31's CUDA provider wrote the
    /// result there in place and then failed to copy it onto itself ("GPUDataTransfer::
    /// CopyTensorAsync dst_data != src_data", first run on the H100, 2026-11-24).
    fn bind_frame_output(&mut self, name: &'static str, w: usize, h: usize) -> Result<(), ModelError> {
        if self.bound_frame == Some((w, h)) {
            return Ok(());
        }
        self.bound_frame = None;
        let tensor = Tensor::<f32>::new(&Allocator::default(), [1usize, 3, h, w]).map_err(|e| self.run_err(e))?;
        self.binding.bind_output(name, tensor).map_err(|e| self.run_err(e))?;
        self.bound_frame = Some((w, h));
        Ok(())
    }

    /// Runs the bound inputs with output `name` in a fresh allocation on the graph's
    /// device, and releases the inputs.
    fn run_fresh(&mut self, name: &'static str) -> Result<DynValue, ModelError> {
        run_to_fresh_output(&mut self.session, &mut self.binding, self.name, name, &self.device_memory)
    }

    /// Runs the bound inputs with the frame output `name` ([1, 3, h, w]) left where the
    /// graph ran (for the colour graphs), and releases the inputs.
    fn run_to_device(&mut self, name: &'static str, w: usize, h: usize) -> Result<DynValue, ModelError> {
        // The frame output is no longer bound to the host tensor.
        self.bound_frame = None;
        let value = self.run_fresh(name)?;
        let shape = match value.dtype() {
            ValueType::Tensor { shape, .. } => shape.to_vec(),
            other => return Err(self.run_err(format!("'{name}' is {other:?}, not a tensor"))),
        };
        check_frame_shape(self.name, &shape, w, h)?;
        Ok(value)
    }

    /// Runs the bound inputs, copies the frame output `name` ([1, 3, h, w]) out, and
    /// releases the inputs (so no frame is kept alive by the binding).
    fn run_to_frame(&mut self, name: &'static str, w: usize, h: usize) -> Result<RgbFrame, ModelError> {
        let graph = self.name;
        let err = |reason: String| ModelError::Run { graph, reason };
        run_bound(&mut self.session, &mut self.binding, graph, |outputs| {
            let value = outputs.get(name).ok_or_else(|| err(format!("output '{name}' missing")))?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| err(e.to_string()))?;
            check_frame_shape(graph, shape, w, h)?;
            Ok(RgbFrame { width: w, height: h, data: data.to_vec() })
        })
    }
}

/// The `out_size` input: (height, width).
fn size_tensor(w: usize, h: usize) -> [i64; 2] {
    [h as i64, w as i64]
}

/// The colour graphs (made by training/make_colour_graphs.py), built into the plugin.
const YUV420_TO_RGB: &[u8] = include_bytes!("colour/yuv420_to_rgb.onnx");
const RGB_TO_YUV420: &[u8] = include_bytes!("colour/rgb_to_yuv420.onnx");

/// One colour graph with its binding.
struct Converter {
    session: Session,
    binding: IoBinding,
    name: &'static str,
    /// Size (w, h) of the host tensors the outputs are bound to (rgb_to_yuv420).
    bound: Option<(usize, usize)>,
}

impl Converter {
    fn err(&self, e: impl fmt::Display) -> ModelError {
        ModelError::Run { graph: self.name, reason: e.to_string() }
    }
}

/// Y'CbCr 4:2:0 <-> R'G'B' by ONNX Runtime where the graphs run: under CUDA only the
/// 8-bit planes cross the bus (1.5 bytes a pixel each way instead of 12), and the
/// conversion runs on the GPU. The pixels are those of src/engine/color.rs.
pub struct ColourGraphs {
    to_rgb: Converter,
    to_yuv: Converter,
    /// Where converted frames stay (`placement`'s device).
    device_memory: MemoryInfo<'static>,
}

impl ColourGraphs {
    /// Sessions for `placement`: the CUDA provider on a GPU (also beside TensorRT: these
    /// are a few element-wise operations, not worth an engine build), else the CPU.
    fn load(rt: &Runtime, config: &SessionConfig, placement: Placement) -> Result<Self, ModelError> {
        let provider = match placement {
            Placement::Host => Provider::Cpu,
            Placement::Cuda { .. } => Provider::Cuda,
        };
        let config = SessionConfig { provider, ..config.clone() };
        let load = |bytes: &[u8], name: &'static str| -> Result<Converter, ModelError> {
            let bad = |e: ort::Error| ModelError::BadModel { path: PathBuf::from(format!("(built in) {name}.onnx")), reason: e.to_string() };
            let (mut builder, _) = session_builder(rt, &config, name)?;
            let session = builder.commit_from_memory(bytes).map_err(bad)?;
            let binding = session.create_binding().map_err(bad)?;
            Ok(Converter { session, binding, name, bound: None })
        };
        let device_memory = placement.device_memory().map_err(|e| ModelError::Runtime(e.to_string()))?;
        Ok(Self {
            to_rgb: load(YUV420_TO_RGB, "yuv420_to_rgb")?,
            to_yuv: load(RGB_TO_YUV420, "rgb_to_yuv420")?,
            device_memory,
        })
    }

    /// Uploads the planes (under CUDA) and converts them; the R'G'B' tensor
    /// [1, 3, h, w] stays where the graphs run.
    pub fn to_rgb(&mut self, frame: Yuv420, colorimetry: Colorimetry) -> Result<Tensor<f32>, ModelError> {
        let c = &mut self.to_rgb;
        let coeffs = color::decode_coefficients(colorimetry).map_err(|e| c.err(e))?;
        let (w, h) = (frame.width, frame.height);
        let (cw, ch) = frame.chroma_size();
        if frame.y.len() != w * h || frame.u.len() != cw * ch || frame.v.len() != cw * ch {
            return Err(c.err("4:2:0 planes do not match the frame size"));
        }
        let plane = |data: Vec<u8>, pw: usize, ph: usize| Tensor::from_array(([1usize, 1, ph, pw], data));
        let y = plane(frame.y, w, h).map_err(|e| c.err(e))?;
        let u = plane(frame.u, cw, ch).map_err(|e| c.err(e))?;
        let v = plane(frame.v, cw, ch).map_err(|e| c.err(e))?;
        let k = Tensor::from_array(([6usize], coeffs.to_vec())).map_err(|e| c.err(e))?;
        for (name, t) in [("y", &y), ("u", &u), ("v", &v)] {
            c.binding.bind_input(name, t).map_err(|e| c.err(e))?;
        }
        c.binding.bind_input("coeffs", &k).map_err(|e| c.err(e))?;
        // A fresh allocation per frame: staged frames outlive the next conversion.
        let value = run_to_fresh_output(&mut c.session, &mut c.binding, c.name, "rgb", &self.device_memory)?;
        value.downcast::<TensorValueType<f32>>().map_err(|e| c.err(e))
    }

    /// Converts an R'G'B' tensor [1, 3, h, w] where the graphs run into `out`'s planes
    /// (downloaded into host memory under CUDA).
    pub fn to_yuv<T: ValueTypeMarker + ?Sized>(
        &mut self,
        rgb: &Value<T>,
        w: usize,
        h: usize,
        colorimetry: Colorimetry,
        out: &mut Yuv420,
    ) -> Result<(), ModelError> {
        let c = &mut self.to_yuv;
        let coeffs = color::encode_coefficients(colorimetry).map_err(|e| c.err(e))?;
        let k = Tensor::from_array(([10usize], coeffs.to_vec())).map_err(|e| c.err(e))?;
        c.binding.bind_input("rgb", rgb).map_err(|e| c.err(e))?;
        c.binding.bind_input("coeffs", &k).map_err(|e| c.err(e))?;
        if c.bound != Some((w, h)) {
            c.bound = None;
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            for (name, pw, ph) in [("y", w, h), ("u", cw, ch), ("v", cw, ch)] {
                // host memory, as in Graph::bind_frame_output (page-locked fails under CUDA)
                let t = Tensor::<u8>::new(&Allocator::default(), [1usize, 1, ph, pw]).map_err(|e| c.err(e))?;
                c.binding.bind_output(name, t).map_err(|e| c.err(e))?;
            }
            c.bound = Some((w, h));
        }
        if out.width != w || out.height != h {
            *out = Yuv420::new(w, h);
        }
        let name = c.name;
        let err = |reason: String| ModelError::Run { graph: name, reason };
        run_bound(&mut c.session, &mut c.binding, name, |outputs| {
            for (plane, dst) in [("y", &mut out.y), ("u", &mut out.u), ("v", &mut out.v)] {
                let value = outputs.get(plane).ok_or_else(|| err(format!("output '{plane}' missing")))?;
                let (_, data) = value.try_extract_tensor::<u8>().map_err(|e| err(e.to_string()))?;
                if data.len() != dst.len() {
                    return Err(err(format!("output '{plane}' has {} values, expected {}", data.len(), dst.len())));
                }
                dst.copy_from_slice(data);
            }
            Ok(())
        })
    }
}

/// Whether `mode` means the colour graphs for graphs placed at `placement`.
fn wants_colour_graphs(mode: ColourMode, placement: Placement) -> bool {
    match mode {
        ColourMode::Auto => placement != Placement::Host,
        ColourMode::Host => false,
        ColourMode::Graphs => true,
    }
}

/// An input frame placed where the down graph reads it (see [`Placement`]), once,
/// however many windows it is in.
pub struct StagedFrame {
    tensor: Tensor<f32>,
    width: usize,
    height: usize,
}

impl fmt::Debug for StagedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedFrame").field("width", &self.width).field("height", &self.height).finish_non_exhaustive()
    }
}

impl StagedFrame {
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }
}

/// imsmdown's graph: a window of input frames to one low-rate frame.
pub struct DownGraph {
    graph: Graph,
    /// Present when 4:2:0 frames are converted by the colour graphs ([`ColourMode`]).
    colour: Option<ColourGraphs>,
}

/// One input frame handed to [`DownGraph::run`].
pub struct WindowFrame<'a> {
    pub frame: &'a StagedFrame,
    /// Time relative to the output instant, in output frame intervals.
    pub offset: f32,
}

impl DownGraph {
    pub fn load(rt: &Runtime, dir: &Path, config: &SessionConfig) -> Result<(Self, ProviderChoice), ModelError> {
        let (graph, choice) = Graph::load(rt, dir, &DOWN, config)?;
        let colour = if wants_colour_graphs(config.colour, graph.placement) {
            Some(ColourGraphs::load(rt, config, graph.placement)?)
        } else {
            None
        };
        Ok((Self { graph, colour }, choice))
    }

    /// Whether 4:2:0 frames go through [`Self::stage_yuv`] / [`Self::run_yuv`].
    pub fn converts_colour(&self) -> bool {
        self.colour.is_some()
    }

    /// Like [`Self::stage`] for a 4:2:0 frame: its planes go to the graphs' device and are
    /// converted to R'G'B' there. Needs the colour graphs ([`Self::converts_colour`]).
    pub fn stage_yuv(&mut self, frame: Yuv420, colorimetry: Colorimetry) -> Result<StagedFrame, ModelError> {
        let (width, height) = (frame.width, frame.height);
        let colour = self.colour.as_mut().ok_or_else(|| self.graph.run_err("colour graphs are not loaded"))?;
        let tensor = colour.to_rgb(frame, colorimetry)?;
        Ok(StagedFrame { tensor, width, height })
    }

    /// `imsm.kind` from the graph's metadata ("reference", "trained", ...).
    pub fn kind(&self) -> &str {
        &self.graph.kind
    }

    /// Where this graph's frames live.
    pub fn placement(&self) -> Placement {
        self.graph.placement
    }

    /// Takes an input frame over and places it where the graph reads it: on the host
    /// the tensor owns the frame's buffer (no copy), under CUDA it is uploaded once.
    pub fn stage(&self, frame: RgbFrame) -> Result<StagedFrame, ModelError> {
        let (width, height) = (frame.width, frame.height);
        if frame.data.len() != 3 * width * height {
            return Err(self.graph.run_err("frame buffer does not match its size"));
        }
        let host = Tensor::from_array(([1usize, 3, height, width], frame.data)).map_err(|e| self.graph.run_err(e))?;
        let tensor = self.graph.placement.place(host).map_err(|e| self.graph.run_err(format!("upload: {e}")))?;
        Ok(StagedFrame { tensor, width, height })
    }

    /// Renders one output frame of `out_w` x `out_h` from up to [`WINDOW_SLOTS`]
    /// frames (all the same size, time order), `ratio` input frames per output frame.
    ///
    /// Each slot is its own graph input bound to the staged frame, so an input frame
    /// shared by several windows is neither copied into a window tensor nor uploaded
    /// again.
    pub fn run(
        &mut self,
        window: &[WindowFrame<'_>],
        ratio: f32,
        quality: f32,
        out_w: usize,
        out_h: usize,
    ) -> Result<RgbFrame, ModelError> {
        self.bind_window(window, ratio, quality, out_w, out_h)?;
        let g = &mut self.graph;
        g.bind_frame_output("lr", out_w, out_h)?;
        g.run_to_frame("lr", out_w, out_h)
    }

    /// Like [`Self::run`], with the frame converted to 4:2:0 by the colour graphs where the
    /// graph ran, into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn run_yuv(
        &mut self,
        window: &[WindowFrame<'_>],
        ratio: f32,
        quality: f32,
        out_w: usize,
        out_h: usize,
        colorimetry: Colorimetry,
        out: &mut Yuv420,
    ) -> Result<(), ModelError> {
        if self.colour.is_none() {
            return Err(self.graph.run_err("colour graphs are not loaded"));
        }
        self.bind_window(window, ratio, quality, out_w, out_h)?;
        let lr = self.graph.run_to_device("lr", out_w, out_h)?;
        self.colour.as_mut().expect("checked above").to_yuv(&lr, out_w, out_h, colorimetry, out)
    }

    fn bind_window(
        &mut self,
        window: &[WindowFrame<'_>],
        ratio: f32,
        quality: f32,
        out_w: usize,
        out_h: usize,
    ) -> Result<(), ModelError> {
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
        let g = &mut self.graph;
        for (slot, name) in FRAME_INPUTS.iter().enumerate() {
            // Empty slots repeat the last real frame, as the contract says.
            let frame = window[slot.min(window.len() - 1)].frame;
            g.binding.bind_input(*name, &frame.tensor).map_err(|e| g.run_err(e))?;
        }
        let window_shape = |v: [f32; WINDOW_SLOTS]| Tensor::from_array(([1usize, WINDOW_SLOTS], v.to_vec()));
        let offsets = window_shape(offsets).map_err(|e| g.run_err(e))?;
        let valid = window_shape(valid).map_err(|e| g.run_err(e))?;
        g.binding.bind_input("offsets", &offsets).map_err(|e| g.run_err(e))?;
        g.binding.bind_input("valid", &valid).map_err(|e| g.run_err(e))?;
        g.bind_small("ratio", &[ratio])?;
        g.bind_small("out_size", &size_tensor(out_w, out_h))?;
        if g.declares("quality") {
            g.bind_small("quality", &[quality])?;
        }
        Ok(())
    }
}

/// Reveal's result for one received frame, kept where the graphs run (see
/// [`Placement`]) and bound to each synth run that needs it.
pub struct Features {
    value: DynValue,
    shape: Vec<i64>,
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Features").field("shape", &self.shape).finish_non_exhaustive()
    }
}

impl Features {
    /// [1, C, h, w] as the reveal graph produced it.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// (w, h) of the feature planes (reveal checked the shape has four dimensions).
    pub fn size(&self) -> (usize, usize) {
        (self.shape[3].max(0) as usize, self.shape[2].max(0) as usize)
    }
}

/// imsmup's graphs: reveal (once per received frame) and synth (once per output frame).
pub struct UpGraphs {
    reveal: Graph,
    synth: Graph,
    /// Present when 4:2:0 frames are converted by the colour graphs ([`ColourMode`]).
    colour: Option<ColourGraphs>,
    /// The identity `index0` / `index1` (and its length), bound whenever a graph that
    /// takes the indices gets no motion field: made once per feature size, not per frame.
    identity: Option<(usize, Tensor<i64>)>,
}

impl UpGraphs {
    pub fn load(rt: &Runtime, dir: &Path, config: &SessionConfig) -> Result<(Self, ProviderChoice), ModelError> {
        let (reveal, choice) = Graph::load(rt, dir, &REVEAL, config)?;
        let (synth, _) = Graph::load(rt, dir, &SYNTH, config)?;
        if reveal.placement != synth.placement {
            // The features go from one to the other without a copy only on one device.
            return Err(ModelError::Provider(format!(
                "reveal runs on {:?} but synth on {:?}; both graphs must run on one device",
                reveal.placement, synth.placement
            )));
        }
        let colour = if wants_colour_graphs(config.colour, reveal.placement) {
            Some(ColourGraphs::load(rt, config, reveal.placement)?)
        } else {
            None
        };
        Ok((Self { reveal, synth, colour, identity: None }, choice))
    }

    /// Whether 4:2:0 frames go through [`Self::reveal_yuv`] / [`Self::synth_yuv`].
    pub fn converts_colour(&self) -> bool {
        self.colour.is_some()
    }

    pub fn kind(&self) -> &str {
        &self.synth.kind
    }

    /// Where the features live.
    pub fn placement(&self) -> Placement {
        self.reveal.placement
    }

    /// Reveals what a received frame carries. `imsm`: 1 = known imsmdown stream,
    /// 0 = known ordinary video, 0.5 = unknown. The features stay on the graphs' device.
    pub fn reveal(&mut self, lr: RgbFrame, imsm: f32) -> Result<Features, ModelError> {
        let (w, h) = (lr.width, lr.height);
        if lr.data.len() != 3 * w * h {
            return Err(self.reveal.run_err("frame buffer does not match its size"));
        }
        // Binding a host tensor to a GPU session uploads it there, once.
        let input = Tensor::from_array(([1usize, 3, h, w], lr.data)).map_err(|e| self.reveal.run_err(e))?;
        self.reveal_tensor(&input, imsm)
    }

    /// Like [`Self::reveal`] for a 4:2:0 frame, converted by the colour graphs where the
    /// graphs run. Needs the colour graphs ([`Self::converts_colour`]).
    pub fn reveal_yuv(&mut self, lr: Yuv420, colorimetry: Colorimetry, imsm: f32) -> Result<Features, ModelError> {
        let colour = self.colour.as_mut().ok_or_else(|| self.reveal.run_err("colour graphs are not loaded"))?;
        let input = colour.to_rgb(lr, colorimetry)?;
        self.reveal_tensor(&input, imsm)
    }

    fn reveal_tensor(&mut self, input: &Tensor<f32>, imsm: f32) -> Result<Features, ModelError> {
        let g = &mut self.reveal;
        g.binding.bind_input("lr", input).map_err(|e| g.run_err(e))?;
        if g.declares("imsm") {
            g.bind_small("imsm", &[imsm])?;
        }
        // A fresh device allocation per run: the previous frame's features are still
        // in use by the synth runs between it and this one.
        let value = g.run_fresh("features")?;
        let shape = match value.dtype() {
            ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } => shape.to_vec(),
            other => return Err(g.run_err(format!("features are {other:?}, not a float32 tensor"))),
        };
        if shape.len() != 4 || shape[0] != 1 {
            return Err(g.run_err(format!("features have shape {shape:?}")));
        }
        Ok(Features { value, shape })
    }

    /// Whether the synth graph takes the global-motion shifts (`shift0`, `shift1`); graphs
    /// without them (the reference graphs) ignore the shifts given to [`Self::synth`].
    pub fn aligns(&self) -> bool {
        self.synth.declares("shift0") && self.synth.declares("shift1")
    }

    /// Whether the synth graph also takes per-pixel source indices (`index0`, `index1`): the
    /// local-motion alignment ([`Alignment::Indices`]).
    pub fn gathers(&self) -> bool {
        self.aligns() && self.synth.declares("index0") && self.synth.declares("index1")
    }

    /// Renders the frame at `t` in [0, 1] between the frames of `f0` and `f1`, `out_w` x
    /// `out_h`, with the features moved as `alignment` says ([`crate::engine::motion`])
    /// first, as far as the graph takes it (see [`Self::aligns`], [`Self::gathers`]).
    pub fn synth(&mut self, f0: &Features, f1: &Features, t: f32, alignment: &Alignment, out_w: usize, out_h: usize) -> Result<RgbFrame, ModelError> {
        self.bind_synth(f0, f1, t, alignment, out_w, out_h)?;
        let g = &mut self.synth;
        g.bind_frame_output("frame", out_w, out_h)?;
        g.run_to_frame("frame", out_w, out_h)
    }

    /// Like [`Self::synth`], with the frame converted to 4:2:0 by the colour graphs where
    /// the graph ran, into `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn synth_yuv(
        &mut self,
        f0: &Features,
        f1: &Features,
        t: f32,
        alignment: &Alignment,
        out_w: usize,
        out_h: usize,
        colorimetry: Colorimetry,
        out: &mut Yuv420,
    ) -> Result<(), ModelError> {
        if self.colour.is_none() {
            return Err(self.synth.run_err("colour graphs are not loaded"));
        }
        self.bind_synth(f0, f1, t, alignment, out_w, out_h)?;
        let frame = self.synth.run_to_device("frame", out_w, out_h)?;
        self.colour.as_mut().expect("checked above").to_yuv(&frame, out_w, out_h, colorimetry, out)
    }

    fn bind_synth(&mut self, f0: &Features, f1: &Features, t: f32, alignment: &Alignment, out_w: usize, out_h: usize) -> Result<(), ModelError> {
        let (aligns, gathers) = (self.aligns(), self.gathers());
        let Self { synth: g, identity, .. } = self;
        if f0.shape != f1.shape {
            return Err(g.run_err("neighbouring frames differ in size"));
        }
        g.binding.bind_input("feat0", &f0.value).map_err(|e| g.run_err(e))?;
        g.binding.bind_input("feat1", &f1.value).map_err(|e| g.run_err(e))?;
        g.bind_small("t", &[t])?;
        let shifts = match alignment {
            Alignment::Shifts(s) => *s,
            _ => [Shift::ZERO; 2],
        };
        if aligns {
            g.bind_small("shift0", &shifts[0].as_input())?;
            g.bind_small("shift1", &shifts[1].as_input())?;
        }
        if gathers {
            let (w, h) = f0.size();
            match alignment {
                Alignment::Indices(maps) => {
                    if maps.iter().any(|m| m.len() != w * h || m.iter().any(|&i| i < 0 || i >= (w * h) as i64)) {
                        return Err(g.run_err("local-motion indices do not match the features"));
                    }
                    g.bind_small("index0", &maps[0])?;
                    g.bind_small("index1", &maps[1])?;
                }
                _ => {
                    let n = w * h;
                    if identity.as_ref().map_or(true, |(len, _)| *len != n) {
                        let tensor = Tensor::from_array(([n], (0..n as i64).collect::<Vec<i64>>())).map_err(|e| g.run_err(e))?;
                        *identity = Some((n, tensor));
                    }
                    let (_, tensor) = identity.as_ref().expect("made above");
                    g.binding.bind_input("index0", tensor).map_err(|e| g.run_err(e))?;
                    g.binding.bind_input("index1", tensor).map_err(|e| g.run_err(e))?;
                }
            }
        }
        g.bind_small("out_size", &size_tensor(out_w, out_h))
    }
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

    // The bound data path (staged frames, features kept with the graphs, preallocated
    // outputs) must give exactly what a plain `Session::run` on host tensors gives.

    use ort::value::TensorRef;

    /// The graph directories checked: the reference graphs and a trained one (multi-channel features).
    fn graph_dirs() -> Vec<PathBuf> {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        vec![models.join("reference"), models.join("imsm-small")]
    }

    fn one_thread() -> SessionConfig {
        SessionConfig { provider: Provider::Cpu, threads: 1, ..Default::default() }
    }

    fn plain_session(rt: &Runtime, dir: &Path, graph: &str) -> Session {
        Session::builder(&rt.env)
            .unwrap()
            .with_intra_threads(1)
            .unwrap()
            .commit_from_file(dir.join(format!("{graph}.onnx")))
            .unwrap()
    }

    /// A deterministic textured frame, different for each `seed`.
    fn frame(w: usize, h: usize, seed: usize) -> RgbFrame {
        let mut f = RgbFrame::new(w, h);
        for (i, v) in f.data.iter_mut().enumerate() {
            *v = ((i * 7919 + seed * 104_729) % 1013) as f32 / 1012.0;
        }
        f
    }

    fn tensor<'a>(shape: Vec<usize>, data: &'a [f32]) -> TensorRef<'a, f32> {
        TensorRef::from_array_view((shape, data)).unwrap()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn bound_down_runs_equal_plain_runs() {
        let rt = runtime(None).expect("ONNX Runtime (scripts/setup.sh puts it in .ort/)");
        let (w, h, ow, oh) = (37, 21, 19, 11);
        for dir in graph_dirs() {
            let (mut graph, _) = DownGraph::load(&rt, &dir, &one_thread()).unwrap();
            assert_eq!(graph.placement(), Placement::Host);
            let mut plain = plain_session(&rt, &dir, "down");
            let frames: Vec<RgbFrame> = (0..9).map(|k| frame(w, h, k)).collect();
            let staged: Vec<StagedFrame> = frames.iter().map(|f| graph.stage(f.clone()).unwrap()).collect();
            // Two overlapping windows share staged frames 2..=6; the second is short
            // (4 real slots), so its empty slots repeat its last frame.
            for (first, len) in [(0usize, 7usize), (2, 4)] {
                let offsets: Vec<f32> = (0..len).map(|k| (k as f32 - 3.0) / 2.5).collect();
                let window: Vec<WindowFrame<'_>> =
                    (0..len).map(|k| WindowFrame { frame: &staged[first + k], offset: offsets[k] }).collect();
                let bound = graph.run(&window, 2.5, 0.4, ow, oh).unwrap();

                let mut off = [0f32; WINDOW_SLOTS];
                let mut valid = [0f32; WINDOW_SLOTS];
                off[..len].copy_from_slice(&offsets);
                valid[..len].fill(1.0);
                let (ratio, quality, size) = ([2.5f32], [0.4f32], [oh as i64, ow as i64]);
                let mut inputs = ort::inputs![
                    "offsets" => tensor(vec![1, WINDOW_SLOTS], &off),
                    "valid" => tensor(vec![1, WINDOW_SLOTS], &valid),
                    "ratio" => tensor(vec![1], &ratio),
                    "out_size" => TensorRef::from_array_view(([2usize], &size[..])).unwrap(),
                ];
                for (slot, name) in FRAME_INPUTS.iter().enumerate() {
                    let f = &frames[first + slot.min(len - 1)];
                    inputs.push(((*name).into(), tensor(vec![1, 3, h, w], &f.data).into()));
                }
                if plain.inputs().iter().any(|i| i.name() == "quality") {
                    inputs.push(("quality".into(), tensor(vec![1], &quality).into()));
                }
                let outputs = plain.run(inputs).unwrap();
                let (_, expected) = outputs["lr"].try_extract_tensor::<f32>().unwrap();
                assert_eq!((bound.width, bound.height), (ow, oh));
                assert_eq!(max_abs_diff(&bound.data, expected), 0.0, "{} window at {first}", dir.display());
            }
        }
    }

    #[test]
    fn bound_up_runs_equal_plain_runs_and_features_outlive_later_reveals() {
        let rt = runtime(None).expect("ONNX Runtime (scripts/setup.sh puts it in .ort/)");
        let (w, h, ow, oh) = (23, 13, 41, 30);
        for dir in graph_dirs() {
            let (mut graphs, _) = UpGraphs::load(&rt, &dir, &one_thread()).unwrap();
            let mut reveal = plain_session(&rt, &dir, "reveal");
            let mut synth = plain_session(&rt, &dir, "synth");
            let frames: Vec<RgbFrame> = (0..3).map(|k| frame(w, h, 10 + k)).collect();
            // Reveal all three first: the first two features must still hold their own
            // values after the third reveal ran (each reveal gets its own allocation).
            let features: Vec<Features> = frames.iter().map(|f| graphs.reveal(f.clone(), 1.0).unwrap()).collect();

            let hint = [1f32];
            let plain_features: Vec<(Vec<i64>, Vec<f32>)> = frames
                .iter()
                .map(|f| {
                    let mut inputs = ort::inputs!["lr" => tensor(vec![1, 3, h, w], &f.data)];
                    if reveal.inputs().iter().any(|i| i.name() == "imsm") {
                        inputs.push(("imsm".into(), tensor(vec![1], &hint).into()));
                    }
                    let out = reveal.run(inputs).unwrap();
                    let (shape, data) = out["features"].try_extract_tensor::<f32>().unwrap();
                    (shape.to_vec(), data.to_vec())
                })
                .collect();
            for (bound, plain) in features.iter().zip(&plain_features) {
                assert_eq!(bound.shape(), &plain.0[..]);
            }
            // The trained graphs take the global- and local-motion alignment; the reference
            // graphs do not and render the same frame whatever alignment they are given.
            let trained = dir.ends_with("imsm-small");
            assert_eq!((graphs.aligns(), graphs.gathers()), (trained, trained), "{}", dir.display());
            let moved = Alignment::Shifts([Shift::new(1, -2), Shift::new(-3, 0)]);
            let n = (w * h) as i64;
            let gathered = Alignment::Indices(Box::new([(0..n).map(|i| (i * 7 + 3) % n).collect(), (0..n).rev().collect()]));
            for (a, b, t, alignment) in [(0usize, 1usize, 0.4f32, Alignment::None), (1, 2, 0.75, moved), (0, 1, 0.0, Alignment::None), (2, 0, 0.3, gathered)] {
                let bound = graphs.synth(&features[a], &features[b], t, &alignment, ow, oh).unwrap();
                let (tt, size) = ([t], [oh as i64, ow as i64]);
                let (s0, s1) = match &alignment {
                    Alignment::Shifts(s) => (s[0].as_input(), s[1].as_input()),
                    _ => ([0; 2], [0; 2]),
                };
                let identity: Vec<i64> = (0..n).collect();
                let (i0, i1) = match &alignment {
                    Alignment::Indices(m) => (m[0].clone(), m[1].clone()),
                    _ => (identity.clone(), identity),
                };
                let shape: Vec<usize> = plain_features[a].0.iter().map(|&d| d as usize).collect();
                let mut inputs = ort::inputs![
                    "feat0" => tensor(shape.clone(), &plain_features[a].1),
                    "feat1" => tensor(shape, &plain_features[b].1),
                    "t" => tensor(vec![1], &tt),
                    "out_size" => TensorRef::from_array_view(([2usize], &size[..])).unwrap(),
                ];
                if trained {
                    inputs.push(("shift0".into(), TensorRef::from_array_view(([2usize], &s0[..])).unwrap().into()));
                    inputs.push(("shift1".into(), TensorRef::from_array_view(([2usize], &s1[..])).unwrap().into()));
                    inputs.push(("index0".into(), TensorRef::from_array_view(([i0.len()], &i0[..])).unwrap().into()));
                    inputs.push(("index1".into(), TensorRef::from_array_view(([i1.len()], &i1[..])).unwrap().into()));
                }
                let out = synth.run(inputs).unwrap();
                let (_, expected) = out["frame"].try_extract_tensor::<f32>().unwrap();
                assert_eq!((bound.width, bound.height), (ow, oh));
                assert_eq!(max_abs_diff(&bound.data, expected), 0.0, "{} synth {a}-{b} at {t}", dir.display());
            }
            // A new output size rebinds the output tensor.
            let small = graphs.synth(&features[0], &features[1], 0.5, &Alignment::None, 7, 5).unwrap();
            assert_eq!((small.width, small.height, small.data.len()), (7, 5, 3 * 35));
            // Indices that do not fit the features are an error, not a read out of bounds.
            if trained {
                for bad in [vec![0i64; 5], vec![n; n as usize], vec![-1; n as usize]] {
                    let alignment = Alignment::Indices(Box::new([bad, (0..n).collect()]));
                    let err = graphs.synth(&features[0], &features[1], 0.5, &alignment, 7, 5).unwrap_err().to_string();
                    assert!(err.contains("local-motion indices"), "{err}");
                }
            }
        }
    }

    /// A deterministic noisy 4:2:0 frame in I420 or NV12 layout with padded strides.
    fn yuv_frame(format: color::PixelFormat, w: usize, h: usize, seed: u64) -> (color::FrameLayout, Vec<Vec<u8>>) {
        let mut layout = color::FrameLayout::packed(format, w, h);
        for p in 0..format.n_planes() {
            layout.strides[p] += 3;
        }
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let planes = layout
            .plane_sizes()
            .iter()
            .take(format.n_planes())
            .map(|&n| {
                (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 24) as u8
                    })
                    .collect()
            })
            .collect();
        (layout, planes)
    }

    #[test]
    fn colour_graphs_convert_exactly_as_the_host_code() {
        use color::{Matrix, PixelFormat, Range};
        let rt = runtime(None).expect("ONNX Runtime (scripts/setup.sh puts it in .ort/)");
        let mut graphs = ColourGraphs::load(&rt, &one_thread(), Placement::Host).unwrap();
        let colorimetries = [
            Colorimetry::new(Matrix::Bt601, Range::Limited),
            Colorimetry::new(Matrix::Bt709, Range::Full),
            Colorimetry::new(Matrix::Bt2020, Range::Limited),
        ];
        let mut seed = 1;
        for format in [PixelFormat::I420, PixelFormat::Nv12] {
            for (w, h) in [(1, 1), (2, 2), (3, 3), (17, 9), (16, 8), (64, 35)] {
                for c in colorimetries {
                    seed += 1;
                    let (layout, planes) = yuv_frame(format, w, h, seed);
                    let views: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
                    let mut host = RgbFrame::new(w, h);
                    color::to_rgb(&layout, c, &views, &mut host).unwrap();
                    let mut yuv = Yuv420::new(0, 0);
                    color::pack_yuv420(&layout, &views, &mut yuv).unwrap();
                    let rgb = graphs.to_rgb(yuv, c).unwrap();
                    let (shape, data) = rgb.extract_tensor();
                    assert_eq!(**shape, [1, 3, h as i64, w as i64]);
                    let what = format!("{format:?} {w}x{h} {c:?}");
                    assert_eq!(max_abs_diff(data, &host.data), 0.0, "to R'G'B': {what}");

                    // Back: the graphs' planes must be the bytes the host code writes.
                    let mut back = Yuv420::new(0, 0);
                    graphs.to_yuv(&rgb, w, h, c, &mut back).unwrap();
                    let mut out: Vec<Vec<u8>> = layout.plane_sizes().iter().take(format.n_planes()).map(|&n| vec![0u8; n]).collect();
                    let mut views: Vec<&mut [u8]> = out.iter_mut().map(Vec::as_mut_slice).collect();
                    color::from_rgb(&host, &layout, c, &mut views).unwrap();
                    let mut expected = Yuv420::new(0, 0);
                    let views: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
                    color::pack_yuv420(&layout, &views, &mut expected).unwrap();
                    assert_eq!(back, expected, "to Y'CbCr: {what}");
                }
            }
        }
    }

    #[test]
    fn yuv_paths_of_the_graphs_match_the_rgb_paths() {
        let rt = runtime(None).expect("ONNX Runtime (scripts/setup.sh puts it in .ort/)");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/imsm-small");
        let graphs_config = SessionConfig { colour: ColourMode::Graphs, ..one_thread() };
        let c = Colorimetry::BT709;
        let (w, h, ow, oh) = (26, 18, 13, 9);
        let frames: Vec<(color::FrameLayout, Vec<Vec<u8>>)> =
            (0..4).map(|k| yuv_frame(color::PixelFormat::I420, w, h, 50 + k)).collect();
        let as_yuv = |(layout, planes): &(color::FrameLayout, Vec<Vec<u8>>)| {
            let views: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
            let mut yuv = Yuv420::new(0, 0);
            color::pack_yuv420(layout, &views, &mut yuv).unwrap();
            yuv
        };
        let as_rgb = |(layout, planes): &(color::FrameLayout, Vec<Vec<u8>>)| {
            let views: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
            let mut rgb = RgbFrame::new(w, h);
            color::to_rgb(layout, c, &views, &mut rgb).unwrap();
            rgb
        };
        let encode = |rgb: &RgbFrame| {
            let layout = color::FrameLayout::packed(color::PixelFormat::I420, rgb.width, rgb.height);
            let mut out: Vec<Vec<u8>> = layout.plane_sizes().iter().map(|&n| vec![0u8; n]).collect();
            let mut views: Vec<&mut [u8]> = out.iter_mut().map(Vec::as_mut_slice).collect();
            color::from_rgb(rgb, &layout, c, &mut views).unwrap();
            let views: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
            let mut yuv = Yuv420::new(0, 0);
            color::pack_yuv420(&layout, &views, &mut yuv).unwrap();
            yuv
        };

        // Down: host conversion + run vs staged through the colour graphs + run_yuv.
        let (mut host, _) = DownGraph::load(&rt, &dir, &one_thread()).unwrap();
        let (mut dev, _) = DownGraph::load(&rt, &dir, &graphs_config).unwrap();
        assert!(!host.converts_colour() && dev.converts_colour());
        let staged_host: Vec<StagedFrame> = frames.iter().map(|f| host.stage(as_rgb(f)).unwrap()).collect();
        let staged_dev: Vec<StagedFrame> = frames.iter().map(|f| dev.stage_yuv(as_yuv(f), c).unwrap()).collect();
        fn window(staged: &[StagedFrame]) -> Vec<WindowFrame<'_>> {
            staged.iter().enumerate().map(|(k, frame)| WindowFrame { frame, offset: (k as f32 - 1.5) / 2.0 }).collect()
        }
        let expected = encode(&host.run(&window(&staged_host), 2.0, 0.3, ow, oh).unwrap());
        let mut got = Yuv420::new(0, 0);
        dev.run_yuv(&window(&staged_dev), 2.0, 0.3, ow, oh, c, &mut got).unwrap();
        assert_eq!(got, expected, "down");

        // Up: reveal + synth, both ways.
        let (mut host, _) = UpGraphs::load(&rt, &dir, &one_thread()).unwrap();
        let (mut dev, _) = UpGraphs::load(&rt, &dir, &graphs_config).unwrap();
        let fh: Vec<Features> = frames[..2].iter().map(|f| host.reveal(as_rgb(f), 1.0).unwrap()).collect();
        let fd: Vec<Features> = frames[..2].iter().map(|f| dev.reveal_yuv(as_yuv(f), c, 1.0).unwrap()).collect();
        let (uw, uh) = (39, 27);
        let shifts = Alignment::Shifts([Shift::new(2, -1), Shift::new(-1, 1)]);
        let expected = encode(&host.synth(&fh[0], &fh[1], 0.4, &shifts, uw, uh).unwrap());
        let mut got = Yuv420::new(0, 0);
        dev.synth_yuv(&fd[0], &fd[1], 0.4, &shifts, uw, uh, c, &mut got).unwrap();
        assert_eq!(got, expected, "up");
        // Without the colour graphs the 4:2:0 entry points say so instead of guessing.
        let err = host.reveal_yuv(as_yuv(&frames[0]), c, 1.0).unwrap_err().to_string();
        assert!(err.contains("colour graphs are not loaded"), "{err}");
    }

    #[test]
    fn colour_graphs_run_by_default_only_on_a_gpu() {
        let gpu = Placement::Cuda { device_id: 0 };
        assert!(!wants_colour_graphs(ColourMode::Auto, Placement::Host));
        assert!(wants_colour_graphs(ColourMode::Auto, gpu));
        assert!(!wants_colour_graphs(ColourMode::Host, gpu));
        assert!(wants_colour_graphs(ColourMode::Graphs, Placement::Host));
        assert_eq!(SessionConfig::default().colour, ColourMode::Auto);
    }

    #[test]
    fn staging_checks_the_frame_buffer() {
        let rt = runtime(None).expect("ONNX Runtime (scripts/setup.sh puts it in .ort/)");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/reference");
        let (graph, _) = DownGraph::load(&rt, &dir, &one_thread()).unwrap();
        let broken = RgbFrame { width: 4, height: 4, data: vec![0.0; 10] };
        assert!(graph.stage(broken).unwrap_err().to_string().contains("does not match its size"));
        let (mut graphs, _) = UpGraphs::load(&rt, &dir, &one_thread()).unwrap();
        let broken = RgbFrame { width: 4, height: 4, data: vec![0.0; 10] };
        assert!(graphs.reveal(broken, 0.5).unwrap_err().to_string().contains("does not match its size"));
    }
}
