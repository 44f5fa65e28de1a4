//! GPU memory through NVML (`libnvidia-ml.so.1`, loaded at run time so that nothing links
//! against the driver): a sampler thread that records the device's used memory while a
//! benchmark runs. Used by `imsm-bench` for the CUDA and TensorRT providers.

use std::os::raw::{c_int, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// `nvmlMemory_t`.
#[repr(C)]
#[derive(Default)]
struct NvmlMemory {
    total: u64,
    free: u64,
    used: u64,
}

type Init = unsafe extern "C" fn() -> c_int;
type HandleByIndex = unsafe extern "C" fn(c_uint, *mut *mut c_void) -> c_int;
type MemoryInfo = unsafe extern "C" fn(*mut c_void, *mut NvmlMemory) -> c_int;

/// One GPU's memory query, with the library kept loaded.
struct Device {
    _lib: libloading::Library,
    handle: *mut c_void,
    memory_info: MemoryInfo,
}

impl Device {
    fn open(index: u32) -> Result<Device, String> {
        // SAFETY: NVML's documented C entry points, called with the signatures of nvml.h.
        unsafe {
            let lib = libloading::Library::new("libnvidia-ml.so.1").map_err(|e| format!("NVML not found: {e}"))?;
            let init: Init = *lib.get::<Init>(b"nvmlInit_v2\0").map_err(|e| e.to_string())?;
            let by_index: HandleByIndex =
                *lib.get::<HandleByIndex>(b"nvmlDeviceGetHandleByIndex_v2\0").map_err(|e| e.to_string())?;
            let memory_info: MemoryInfo = *lib.get::<MemoryInfo>(b"nvmlDeviceGetMemoryInfo\0").map_err(|e| e.to_string())?;
            let rc = init();
            if rc != 0 {
                return Err(format!("nvmlInit_v2 failed ({rc})"));
            }
            let mut handle = std::ptr::null_mut();
            let rc = by_index(index, &mut handle);
            if rc != 0 {
                return Err(format!("no GPU {index} for NVML ({rc})"));
            }
            Ok(Device { _lib: lib, handle, memory_info })
        }
    }

    fn used_bytes(&self) -> Option<u64> {
        let mut m = NvmlMemory::default();
        // SAFETY: `handle` came from NVML for this loaded library; `m` is a valid nvmlMemory_t.
        let rc = unsafe { (self.memory_info)(self.handle, &mut m) };
        (rc == 0).then_some(m.used)
    }
}

/// Device memory over one measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceMemory {
    /// Used on the whole GPU when sampling started, MiB.
    pub before_mib: f64,
    /// Highest used on the whole GPU while sampling, MiB.
    pub peak_mib: f64,
}

/// Samples the used memory of one GPU every 2 ms on its own thread until [`stop`](Self::stop).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<DeviceMemory>>,
}

impl Sampler {
    /// Starts sampling GPU `index`; an error when NVML or the GPU is not there.
    pub fn start(index: u32) -> Result<Sampler, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let device = match Device::open(index) {
                Ok(d) => d,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return None;
                }
            };
            let before = device.used_bytes()?;
            peak.store(before, Ordering::Relaxed);
            let _ = ready_tx.send(Ok(()));
            while !stop2.load(Ordering::Relaxed) {
                if let Some(used) = device.used_bytes() {
                    peak.fetch_max(used, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            Some(DeviceMemory { before_mib: mib(before), peak_mib: mib(peak.load(Ordering::Relaxed)) })
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Sampler { stop, thread }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("NVML sampler thread ended".into()),
        }
    }

    pub fn stop(self) -> Option<DeviceMemory> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where there is no NVIDIA driver (CI), starting fails with a message instead of
    /// panicking; where there is one, a sample comes back.
    #[test]
    fn sampler_starts_or_says_why() {
        match Sampler::start(0) {
            Err(e) => assert!(!e.is_empty()),
            Ok(s) => {
                let m = s.stop().expect("a sample");
                assert!(m.peak_mib >= m.before_mib && m.before_mib >= 0.0, "{m:?}");
            }
        }
    }
}
