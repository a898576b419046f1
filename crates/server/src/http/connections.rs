//! Serving connections: the accept loop of `tlink serve`, and what keeps slow or idle clients from
//! holding the server.
//!
//! - **A cap on concurrent connections** (`http.max_connections`): at the cap the loop stops accepting, so
//!   new clients wait in the kernel's backlog until a connection closes.
//! - **A deadline for a request's head** (`http.header_timeout_secs`): from the connection's start, or from
//!   the first byte of a request on a kept-alive connection, to the end of its headers. A client that has
//!   not sent them by then is disconnected.
//! - **A deadline for a request's body** (`http.body_timeout_secs`): from the moment the head was read, for
//!   the whole body. A body still arriving then is answered 408 and the connection closed.
//! - **An idle deadline** (`http.idle_timeout_secs`): a kept-alive connection with no request in progress
//!   and no byte of the next one is closed after this long.
//!
//! The head and idle deadlines live in [`Deadlines`], a wrapper around the socket that knows (from the
//! requests in progress, counted by the service) whether the connection is between requests; the body
//! deadline lives in `DeadlineBody`, around each request's body. A request being handled, however long
//! it takes (`?wait=`), is never cut off by them.
//!
//! An oversized `Content-Length` is refused (413) before any of the body is read: see
//! [`refuse_oversized`], in the router so that it applies in-process too.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::http::error::ApiError;

/// `[http]` in the configuration: connection limits and timeouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Connections served at once; at the cap, new ones wait to be accepted.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (from the connection's start, or from the first
    /// byte of the next request).
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body, from the end of its headers (408 after).
    pub body_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { max_connections: 4096, header_timeout_secs: 10, body_timeout_secs: 30, idle_timeout_secs: 60 }
    }
}

impl HttpConfig {
    fn header(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.max(1))
    }

    fn body(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs.max(1))
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
}

/// The 413 for a request whose `Content-Length` is over the body limit, answered before reading any of it
/// (a step of [`crate::http::gate`]); `None` for every other request.
pub fn refuse_oversized(max: usize, req: &Request) -> Option<Response> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_none_or(|n| n <= max as u64) {
        return None;
    }
    let err = ApiError::PayloadTooLarge(format!("request body over {max} bytes (from its Content-Length)"));
    let mut resp = crate::http::error::respond(err, crate::http::limits::is_threat_stack_path(req.uri().path()));
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(resp)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the connections finish their
/// requests (and closes idle ones).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY failed");
        }
        let conn = Arc::new(ConnState::default());
        let io = TokioIo::new(Deadlines::new(tcp, conn.clone(), config));
        let service = RequestService { router: router.clone(), conn, peer, body_timeout: config.body() };
        let connection =
            builder.serve_connection_with_upgrades(io, hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Accept errors: a connection that failed before it was accepted is skipped; running out of file
/// descriptors or memory is logged and waited out, as the listener itself is still good.
async fn accept_failed(e: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What a connection's socket wrapper needs to know of its requests.
#[derive(Debug, Default)]
struct ConnState {
    /// Requests in progress: from the end of the head until the response body is written or dropped.
    in_flight: AtomicU64,
    /// Bumped when a request starts and when one ends.
    generation: AtomicU64,
    /// The task reading the connection, woken when its last request ends so that it arms the idle deadline.
    reader: futures_util::task::AtomicWaker,
}

/// A request in progress; dropped with its response body.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn start(conn: Arc<ConnState>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.generation.fetch_add(1, Ordering::AcqRel);
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.reader.wake();
        }
    }
}

/// The service of one connection: the router, with the peer address, the request-body deadline and
/// the in-flight count.
#[derive(Clone)]
struct RequestService {
    router: Router,
    conn: Arc<ConnState>,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl tower::Service<hyper::Request<hyper::body::Incoming>> for RequestService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let guard = InFlight::start(self.conn.clone());
        let timed_out = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.body_timeout;
        let mut req = req.map(|body| Body::new(DeadlineBody::new(body, deadline, timed_out.clone())));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let threat_stack = crate::http::limits::is_threat_stack_path(req.uri().path());
        let router = self.router.clone();
        Box::pin(async move {
            let Ok(resp) = router.oneshot(req).await;
            let resp = if timed_out.load(Ordering::Acquire) {
                let err = ApiError::RequestTimeout("the request body did not arrive in time".into());
                let mut resp = crate::http::error::respond(err, threat_stack);
                resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                resp
            } else {
                resp
            };
            Ok(resp.map(|body| Body::new(GuardedBody { inner: body, _guard: guard })))
        })
    }
}

/// A request body that ends in an error once its deadline has passed (and says so in `timed_out`).
struct DeadlineBody {
    inner: hyper::body::Incoming,
    deadline: Instant,
    /// Made at the first poll, so a request whose body is never read costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, deadline: Instant, timed_out: Arc<AtomicBool>) -> Self {
        DeadlineBody { inner, deadline, sleep: None, timed_out }
    }
}

/// The error a request body ends in when its deadline passes.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its request's [`InFlight`] until it is written or dropped.
struct GuardedBody {
    inner: Body,
    _guard: InFlight,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where a connection is between requests, which decides the deadline its reads are under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request's head: the header deadline.
    Head,
    /// Kept alive with no byte of the next request yet: the idle deadline.
    Idle,
    /// A request is in progress: no deadline here (its body has its own).
    Busy,
}

/// The socket with the header and idle deadlines: a read after the current phase's deadline fails with
/// `TimedOut`, which ends the connection.
pub struct Deadlines {
    inner: TcpStream,
    conn: Arc<ConnState>,
    seen: u64,
    phase: Phase,
    sleep: Pin<Box<Sleep>>,
    header: Duration,
    idle: Duration,
}

impl Deadlines {
    fn new(inner: TcpStream, conn: Arc<ConnState>, config: &HttpConfig) -> Self {
        let header = config.header();
        Deadlines {
            inner,
            conn,
            seen: 0,
            phase: Phase::Head,
            sleep: Box::pin(tokio::time::sleep(header)),
            header,
            idle: config.idle(),
        }
    }
}

impl AsyncRead for Deadlines {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // hyper does not read while it answers, and after answering it waits on this read's wakers: the
        // end of the request wakes it, so that the idle deadline starts then.
        this.conn.reader.register(cx.waker());
        if this.conn.in_flight.load(Ordering::Acquire) > 0 {
            this.phase = Phase::Busy;
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let generation = this.conn.generation.load(Ordering::Acquire);
        if generation != this.seen || this.phase == Phase::Busy {
            // The last request ended: wait for the next one.
            this.seen = generation;
            this.phase = Phase::Idle;
            this.sleep.as_mut().reset(Instant::now() + this.idle);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            let what = if this.phase == Phase::Idle { "idle connection" } else { "request headers" };
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if this.phase == Phase::Idle && buf.filled().len() > before {
            this.phase = Phase::Head;
            this.sleep.as_mut().reset(Instant::now() + this.header);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Deadlines {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
