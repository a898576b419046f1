//! The TCP connect scan and the banner stage that runs alongside it.
//!
//! `concurrency` worker tasks share one atomic cursor into the port list; each takes the next port,
//! connects with the connect timeout and counts the outcome, so the number of connects in flight is fixed
//! and nothing is allocated per port. A refusal that is already known when `connect` returns (the usual
//! case on loopback) is taken without involving the reactor (see [`probe`]). An accepted connection is handed (with its socket) to the banner
//! stage, which grabs up to [`BANNER_CONCURRENCY`] banners at once on its own tasks: the connect pipeline
//! never waits for a banner. When every banner slot is busy the socket is closed and the port queued;
//! it is connected to again when a slot frees. Progress is read from an atomic counter every 100 ms.
//!
//! Outcomes: accepted → open; refused or reset → closed; no answer within the timeout, or an ICMP
//! "host unreachable"/"administratively prohibited" → filtered. Running out of local resources (file
//! descriptors, ephemeral ports, buffers) is back-pressure: the worker waits and retries the same port,
//! up to [`PRESSURE_RETRIES`] times before the run fails. "Network unreachable" fails the run at once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::banner::{self, BannerSettings, Grab};
use crate::{Progress, ToolError};

/// Banners grabbed at once.
pub const BANNER_CONCURRENCY: usize = 64;
/// Open ports whose banner is grabbed; further open ports are reported without one.
pub const MAX_BANNERS: usize = 1024;
/// Retries of one port while the system is out of sockets, before the run fails.
pub const PRESSURE_RETRIES: u32 = 200;

#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanSettings {
    pub concurrency: usize,
    pub connect_timeout: Duration,
    pub banner: BannerSettings,
}

pub(crate) struct ScanOutcome {
    /// Open ports in ascending order, with their banner (none past [`MAX_BANNERS`]).
    pub open: BTreeMap<u16, Option<Grab>>,
    pub closed: u32,
    pub filtered: u32,
    /// Time until the last connect finished (banners may have taken longer).
    pub scan_time: Duration,
}

struct Shared {
    ports: Vec<u16>,
    next: AtomicUsize,
    done: AtomicU64,
    closed: AtomicU32,
    filtered: AtomicU32,
    stop: AtomicBool,
    fatal: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, message: String) {
        self.fatal.lock().get_or_insert(message);
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Scans `ports` of `ip` and grabs the banners of the open ones.
pub(crate) async fn scan(
    ip: IpAddr,
    ports: Vec<u16>,
    settings: ScanSettings,
    progress: &dyn Progress,
) -> Result<ScanOutcome, ToolError> {
    let started = Instant::now();
    let workers_wanted = settings.concurrency.clamp(1, ports.len().max(1));
    let shared = Arc::new(Shared {
        ports,
        next: AtomicUsize::new(0),
        done: AtomicU64::new(0),
        closed: AtomicU32::new(0),
        filtered: AtomicU32::new(0),
        stop: AtomicBool::new(false),
        fatal: Mutex::new(None),
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<(u16, TcpStream)>();
    let mut workers = JoinSet::new();
    for _ in 0..workers_wanted {
        workers.spawn(worker(shared.clone(), ip, settings.connect_timeout, tx.clone()));
    }
    drop(tx);

    let slots = BANNER_CONCURRENCY.min(settings.concurrency.max(1));
    let mut banners: JoinSet<(u16, Grab)> = JoinSet::new();
    let mut banner_ports: HashMap<tokio::task::Id, u16> = HashMap::new();
    let mut queued: VecDeque<u16> = VecDeque::new();
    let mut open: BTreeMap<u16, Option<Grab>> = BTreeMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut reported = 0u64;
    let mut scanning = true;
    let mut scan_time = Duration::ZERO;

    loop {
        while banners.len() < slots {
            let Some(port) = queued.pop_front() else { break };
            let handle = banners.spawn(grab_one(ip, port, None, settings.banner));
            banner_ports.insert(handle.id(), port);
        }
        if !scanning && banners.is_empty() {
            break;
        }
        tokio::select! {
            message = rx.recv(), if scanning => match message {
                Some((port, stream)) => {
                    if open.len() >= MAX_BANNERS {
                        open.insert(port, None);
                    } else {
                        open.insert(port, Some(Grab::default()));
                        if banners.len() < slots {
                            let handle = banners.spawn(grab_one(ip, port, Some(stream), settings.banner));
                            banner_ports.insert(handle.id(), port);
                        } else {
                            drop(stream);
                            queued.push_back(port);
                        }
                    }
                }
                None => {
                    scanning = false;
                    scan_time = started.elapsed();
                    report(&shared, progress, &mut reported);
                }
            },
            Some(joined) = banners.join_next_with_id(), if !banners.is_empty() => match joined {
                Ok((id, (port, grab))) => {
                    banner_ports.remove(&id);
                    open.insert(port, Some(grab));
                }
                Err(e) => {
                    // A banner task that panicked: keep the port, without a banner.
                    if let Some(port) = banner_ports.remove(&e.id()) {
                        tracing::warn!(port, error = %e, "banner grab failed");
                    }
                }
            },
            _ = ticker.tick() => report(&shared, progress, &mut reported),
        }
    }

    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            shared.fail(format!("a scan worker failed: {e}"));
        }
    }
    if let Some(message) = shared.fatal.lock().take() {
        return Err(ToolError::Failed(message));
    }
    report(&shared, progress, &mut reported);
    Ok(ScanOutcome {
        open,
        closed: shared.closed.load(Ordering::Relaxed),
        filtered: shared.filtered.load(Ordering::Relaxed),
        scan_time,
    })
}

async fn grab_one(ip: IpAddr, port: u16, stream: Option<TcpStream>, settings: BannerSettings) -> (u16, Grab) {
    (port, banner::grab(SocketAddr::new(ip, port), stream, settings).await)
}

fn report(shared: &Shared, progress: &dyn Progress, reported: &mut u64) {
    let done = shared.done.load(Ordering::Relaxed);
    if done > *reported {
        progress.inc(done - *reported);
        *reported = done;
    }
}

enum Outcome {
    Open(TcpStream),
    Closed,
    Filtered,
    /// Out of local resources: wait and retry.
    Pressure(io::Error),
    /// The whole target is unreachable.
    Fatal(io::Error),
}

async fn worker(
    shared: Arc<Shared>,
    ip: IpAddr,
    connect_timeout: Duration,
    open: mpsc::UnboundedSender<(u16, TcpStream)>,
) {
    let (mut closed, mut filtered) = (0u32, 0u32);
    while !shared.stop.load(Ordering::Relaxed) {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(&port) = shared.ports.get(index) else { break };
        let addr = SocketAddr::new(ip, port);
        let mut retries = 0u32;
        loop {
            match probe(addr, connect_timeout).await {
                Outcome::Open(stream) => {
                    // The receiver only goes away when the run is being dropped.
                    let _ = open.send((port, stream));
                }
                Outcome::Closed => closed += 1,
                Outcome::Filtered => filtered += 1,
                Outcome::Pressure(e) => {
                    retries += 1;
                    if retries > PRESSURE_RETRIES {
                        shared.fail(format!(
                            "connecting to {addr}: {e} (still out of sockets after {PRESSURE_RETRIES} retries; \
                             lower tools.exposure.concurrency or raise the open-file limit)"
                        ));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(retries.min(20)))).await;
                    continue;
                }
                Outcome::Fatal(e) => shared.fail(format!("connecting to {addr}: {e}")),
            }
            break;
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
        // Refused connects can complete without ever waiting; give the runtime its turn now and then.
        tokio::task::coop::consume_budget().await;
    }
    shared.closed.fetch_add(closed, Ordering::Relaxed);
    shared.filtered.fetch_add(filtered, Ordering::Relaxed);
}

/// Connects to `addr` and classifies the outcome.
///
/// The socket is connected without the runtime first: on loopback and other very close hosts the answer
/// (a refusal, mostly) is often already there when `connect` returns, and checking for it then saves
/// registering the socket with the reactor and waking a task. Otherwise the socket is handed to tokio
/// and awaited like any connect.
async fn probe(addr: SocketAddr, limit: Duration) -> Outcome {
    let socket = match new_socket(addr) {
        Ok(s) => s,
        Err(e) => return classify(e),
    };
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {
            match socket.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return classify(e),
            }
        }
        Err(e) => return classify(e),
    }
    let stream = match TcpStream::from_std(socket.into()) {
        Ok(s) => s,
        Err(e) => return classify(e),
    };
    match tokio::time::timeout(limit, stream.writable()).await {
        Err(_) => Outcome::Filtered,
        Ok(Err(e)) => classify(e),
        Ok(Ok(())) => match stream.take_error() {
            Ok(Some(e)) | Err(e) => classify(e),
            Ok(None) => match (stream.local_addr(), stream.peer_addr()) {
                // On loopback the kernel may pick the destination port as the source port and connect the
                // socket to itself: nothing listens there.
                (Ok(local), Ok(peer)) if local == peer => Outcome::Closed,
                (_, Ok(_)) => Outcome::Open(stream),
                // Writable but not connected: the connect failed without an error code.
                (_, Err(_)) => Outcome::Closed,
            },
        },
    }
}

/// A non-blocking TCP socket for `addr`'s family.
fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    #[cfg(target_os = "linux")]
    let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
    #[cfg(not(target_os = "linux"))]
    let socket = {
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket
    };
    Ok(socket)
}

/// `EMFILE` and `ENFILE`, which have the same numbers on Linux, the BSDs and macOS; `ENOBUFS` and
/// `EINPROGRESS`, which differ between Linux and the BSDs/macOS.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
#[cfg(target_os = "linux")]
const ENOBUFS: i32 = 105;
#[cfg(not(target_os = "linux"))]
const ENOBUFS: i32 = 55;
#[cfg(target_os = "linux")]
const EINPROGRESS: i32 = 115;
#[cfg(not(target_os = "linux"))]
const EINPROGRESS: i32 = 36;

fn classify(e: io::Error) -> Outcome {
    use io::ErrorKind as K;
    if matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS)) {
        return Outcome::Pressure(e);
    }
    match e.kind() {
        K::ConnectionRefused | K::ConnectionReset | K::ConnectionAborted => Outcome::Closed,
        K::AddrNotAvailable | K::AddrInUse | K::WouldBlock | K::OutOfMemory | K::Interrupted => Outcome::Pressure(e),
        K::NetworkUnreachable | K::NetworkDown | K::InvalidInput => Outcome::Fatal(e),
        _ => Outcome::Filtered,
    }
}
