//! The threads that deflate gzip blocks, one pool shared by every encoder of the process, and
//! the memory of the blocks in flight, bounded for the whole process.
//!
//! A push of a 50-layer image compresses up to `max_concurrent_uploads` (5) layers at once, a
//! `hoist sync` several images at once. Each [`ParallelGzip`](super::ParallelGzip) used to
//! start its own threads and keep up to two blocks per thread in flight, so memory and threads
//! grew with layers × cores (5 layers on a 64-core machine: 320 threads, 640 blocks). Now:
//! - **one pool**: [`GzipPool::shared`] gives every encoder asking for the same number of
//!   workers the same threads (kept while an encoder holds them, ended with the last one; an
//!   encoder asking for another number, which only tests do, gets a pool of its own); jobs
//!   queue in the order the encoders hand them out, so concurrent layers share the cores.
//! - **one budget**: a block is handed out only with a share of [`BLOCKS`], the process's
//!   [`MemoryBudget`] of [`BLOCKS_IN_FLIGHT`] blocks; the share travels with the block to its
//!   worker and back and is given back when the encoder has written the block out (or dropped
//!   it). An encoder waits for the budget only while it has no block of its own in flight —
//!   otherwise it writes its oldest one out first — so no encoder waits on budget its own
//!   finished blocks hold.
//!
//! So whatever the number of layers and cores, at most [`BLOCKS_IN_FLIGHT`] blocks exist
//! (each its input of [`BLOCK_SIZE`](super::BLOCK_SIZE) until deflated, then its member,
//! usually 40 % of that) and at most as many threads deflate, each with its libdeflate state
//! and a scratch buffer of one block (about 1.5 MiB a thread, measured): 16 × 512 KiB, 8 MiB
//! of input, about 35 MiB in all (`tests/push_memory.rs`). 16 cores at ~70 MB/s each deflate
//! 1 GB/s, more than an upload carries. The number of workers never changes the bytes (see
//! `gzip`).

use std::io;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;

use libdeflater::{CompressionLvl, Compressor};

use super::budget::{MemoryBudget, MemoryPermit};
use super::gzip::{deflate_member, BLOCK_SIZE};

/// Blocks in flight in the whole process (see the module docs).
pub const BLOCKS_IN_FLIGHT: usize = 16;

/// The budget of blocks in flight: [`BLOCKS_IN_FLIGHT`] blocks of [`BLOCK_SIZE`].
pub(crate) static BLOCKS: MemoryBudget = MemoryBudget::new((BLOCKS_IN_FLIGHT * BLOCK_SIZE) as u64);

/// The pool [`GzipPool::shared`] hands out while someone holds it.
static SHARED: Mutex<Option<Weak<Threads>>> = Mutex::new(None);

/// Threads deflating gzip blocks; clones share them. See the module docs.
#[derive(Clone)]
pub struct GzipPool {
    threads: Arc<Threads>,
}

/// A deflated block: its whole gzip member, and the block's share of [`BLOCKS`].
pub(crate) struct Member {
    pub(crate) bytes: Vec<u8>,
    _permit: MemoryPermit<'static>,
}

/// What a worker is asked to do.
struct Job {
    level: i32,
    input: Vec<u8>,
    permit: MemoryPermit<'static>,
    reply: SyncSender<io::Result<Member>>,
}

struct Threads {
    workers: usize,
    jobs: Option<Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
}

impl GzipPool {
    /// A pool of its own with `workers` threads (at least 1, at most [`BLOCKS_IN_FLIGHT`]:
    /// more could never be busy).
    pub fn new(workers: usize) -> GzipPool {
        let workers = workers.clamp(1, BLOCKS_IN_FLIGHT);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let handles = (0..workers)
            .filter_map(|i| {
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("hoist-gzip-{i}"))
                    .spawn(move || work(&queue))
                    .ok()
            })
            .collect();
        GzipPool {
            threads: Arc::new(Threads {
                workers,
                jobs: Some(jobs),
                handles,
            }),
        }
    }

    /// The process's pool of `workers` threads: the one already running if an encoder holds
    /// it, a new one otherwise (see the module docs).
    pub fn shared(workers: usize) -> GzipPool {
        let workers = workers.clamp(1, BLOCKS_IN_FLIGHT);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(threads) = shared.as_ref().and_then(Weak::upgrade) {
            if threads.workers == workers {
                return GzipPool { threads };
            }
        }
        let pool = GzipPool::new(workers);
        *shared = Some(Arc::downgrade(&pool.threads));
        pool
    }

    /// The number of threads.
    pub fn workers(&self) -> usize {
        self.threads.workers
    }

    /// Whether `self` and `other` are the same threads.
    pub fn same_as(&self, other: &GzipPool) -> bool {
        Arc::ptr_eq(&self.threads, &other.threads)
    }

    /// Queues `input` to be deflated at `level` into one gzip member, holding `permit` (its
    /// share of [`BLOCKS`]) until the member is dropped. The member arrives on the receiver.
    pub(crate) fn deflate(
        &self,
        level: i32,
        input: Vec<u8>,
        permit: MemoryPermit<'static>,
    ) -> Receiver<io::Result<Member>> {
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            level,
            input,
            permit,
            reply,
        };
        let job = match &self.threads.jobs {
            Some(jobs) if !self.threads.handles.is_empty() => match jobs.send(job) {
                Ok(()) => return result,
                Err(mpsc::SendError(job)) => job,
            },
            _ => job,
        };
        // No thread could be started: deflate here rather than not at all.
        let mut compressors = Compressors::default();
        job.run(&mut compressors);
        result
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.jobs.take();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// A worker's libdeflate compressors, one per level asked for (their state is reused from one
/// block to the next; each block is deflated from scratch, so the bytes do not depend on it),
/// and the buffer it deflates into.
#[derive(Default)]
pub(crate) struct Compressors {
    by_level: Vec<(i32, Compressor)>,
    scratch: Vec<u8>,
}

impl Compressors {
    /// The compressor of `level` (0–12; outside, the nearest) and the worker's scratch buffer.
    pub(crate) fn of(&mut self, level: i32) -> (&mut Compressor, &mut Vec<u8>) {
        let level = level.clamp(0, 12);
        let index = match self.by_level.iter().position(|(l, _)| *l == level) {
            Some(index) => index,
            None => {
                let lvl = CompressionLvl::new(level).unwrap_or_default();
                self.by_level.push((level, Compressor::new(lvl)));
                self.by_level.len() - 1
            }
        };
        (&mut self.by_level[index].1, &mut self.scratch)
    }
}

impl Job {
    fn run(self, compressors: &mut Compressors) {
        let Job {
            level,
            input,
            permit,
            reply,
        } = self;
        let result = deflate_member(compressors, level, &input).map(|bytes| Member {
            bytes,
            _permit: permit,
        });
        drop(input);
        // The encoder may be gone (dropped mid-stream): the member and its share go too.
        let _ = reply.send(result);
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    let mut compressors = Compressors::default();
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job.run(&mut compressors);
    }
}
