//! The shared wasmtime engine, its epoch ticker and the two linkers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::component::{LoadError, LoadedComponent, digest, load_cached};
use crate::limits::MAX_MEMORY_BYTES;
use crate::linker;
use crate::state::RunState;

/// One epoch tick: the granularity of CPU accounting and of yielding.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Core module instances one component may create. A Python plugin built
/// with componentize-py needs 38.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;

/// Core instances the pool holds per run slot: enough for every run at
/// once to be a Python plugin (38 each), not only Rust ones (a handful).
/// A slot is address space reserved up front, committed only when used.
const CORE_INSTANCES_PER_SLOT: u32 = 40;

/// Bytes of a pool slot kept resident between runs.
const KEEP_RESIDENT: usize = 384 << 10;

/// How to build the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where precompiled components are cached.
    pub cache_dir: PathBuf,
    /// Plugin instances alive at once (pooling allocator slots).
    pub max_instances: u32,
}

impl EngineOptions {
    /// Options with the cache in `cache_dir` and room for 64 concurrent runs.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            max_instances: 64,
        }
    }
}

/// The plugin host: engine, linkers, compile cache. Share one per process.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker_read: Linker<RunState>,
    pub(crate) linker_write: Linker<RunState>,
    cache_dir: PathBuf,
    /// Keeps the epoch ticker going; each run's guest task holds a clone,
    /// so a guest outliving its caller is still interrupted.
    pub(crate) ticker: Arc<EpochTicker>,
    /// Components loaded in this process, by digest: concurrent runs of a
    /// plugin share its compiled code and `InstancePre`.
    loaded: Mutex<HashMap<String, Arc<LoadedComponent>>>,
    /// One gate per digest being loaded: runs that start together wait for
    /// one compile instead of each compiling the same component.
    loading: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Components this runtime compiled (not found in the cache).
    compiled: std::sync::atomic::AtomicU64,
    max_instances: u32,
}

impl Runtime {
    /// Build the engine (pooling allocator, epoch interruption) and start
    /// its epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Self, LoadError> {
        let invalid =
            |e: wasmtime::Error| LoadError::Invalid(format!("cannot start the wasm engine: {e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(options.max_instances)
            .total_core_instances(options.max_instances * CORE_INSTANCES_PER_SLOT)
            .total_memories(options.max_instances * 2)
            .total_tables(options.max_instances * 8)
            // Each run executes on a fiber stack of its own for as long as it
            // lasts (wasmtime's default, 1,000, trapped the 1,001st of
            // 3,200 concurrent runs).
            .total_stacks(options.max_instances)
            .max_memory_size(MAX_MEMORY_BYTES)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            // componentize-py components (CPython, libc and the binding
            // shims) instantiate ~40 core modules; Rust plugins a handful.
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            // Reset a plugin's memory, tables and stack by memset rather than
            // madvise: cheaper for the few pages a typical run touches.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT / 8)
            .async_stack_keep_resident(KEEP_RESIDENT / 4)
            // On Linux 6.7 and later, reset only the pages a run touched
            // (the kernel's PAGEMAP_SCAN), not all of the region kept
            // resident; elsewhere the memset above.
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            // Always map a component's initial memory copy-on-write, however
            // sparse: a Python plugin's snapshot (CPython initialised at
            // build time) is then shared by every run, never copied.
            .memory_guaranteed_dense_image_size(MAX_MEMORY_BYTES as u64)
            .epoch_interruption(true)
            .concurrency_support(false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(invalid)?;
        let linker_read = linker::build(&engine, false).map_err(invalid)?;
        let linker_write = linker::build(&engine, true).map_err(invalid)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (e, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("easel-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    e.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Invalid(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            engine,
            linker_read,
            linker_write,
            cache_dir: options.cache_dir,
            ticker: Arc::new(EpochTicker(ticker_stop)),
            max_instances: options.max_instances,
            loaded: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            compiled: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The engine (for inspection without caching).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Check and compile a component, using the on-disk cache; a component
    /// this runtime already loaded is shared, not loaded again.
    pub fn load(&self, bytes: &[u8], label: &str) -> Result<Arc<LoadedComponent>, LoadError> {
        let d = digest(bytes);
        let lock = || self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = lock().get(&d) {
            return Ok(c.clone());
        }
        // One loader per digest; the others wait for it and share its work
        // (a node that takes a token over starts 100 runs of a plugin it
        // has not compiled yet at once).
        let gate = self
            .loading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(d.clone())
            .or_default()
            .clone();
        let _turn = gate.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = lock().get(&d) {
            return Ok(c.clone());
        }
        let (c, compiled) = load_cached(&self.engine, &self.cache_dir, bytes, label)?;
        if compiled {
            self.compiled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(lock().entry(d).or_insert(c).clone())
    }

    /// The component with `digest`, if this runtime has loaded it: a run
    /// of a plugin already loaded needs neither its bytes nor their hash
    /// (a Python plugin's are about 20 MiB).
    pub fn loaded(&self, digest: &str) -> Option<Arc<LoadedComponent>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    /// How many components this runtime compiled (rather than found
    /// compiled in its cache or already loaded).
    pub fn compiled(&self) -> u64 {
        self.compiled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Plugin instances this runtime can hold at once.
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }
}

/// The epoch ticker's stop flag: the ticker stops when the last holder (the
/// runtime, or a run's guest task) lets go.
pub(crate) struct EpochTicker(Arc<AtomicBool>);

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
