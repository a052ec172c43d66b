//! The accepting threads.
//!
//! Connections are accepted by threads blocked in `accept` — not by the
//! event loop waiting in `epoll_wait` — because the kernel wakes a thread
//! blocked on a Unix socket with a synchronous hint and tends to run it on
//! the connecting client's CPU, while an epoll wake-up lands wherever the
//! loop last ran: on a two-core machine that is the difference between a
//! context switch and an interrupt to the other core on every Hello.
//!
//! Each accepted connection's task is polled once right here. An ordinary
//! exchange (the Hello already in, a refusal or a registry hit) completes
//! in that poll; a task that has to wait (for bytes, a launch, a handoff)
//! moves to the event loop, which polls it from then on.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::connection::{Connection, serve_connection};
use super::rooms::Rooms;

/// Longest pause of the accepting thread under EMFILE when no connection closes.
const FD_PRESSURE_RECHECK: Duration = Duration::from_millis(100);

/// The running accepting threads.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: Arc<UnixListener>,
    stop: Arc<AtomicBool>,
    threads: Vec<(JoinHandle<()>, oneshot::Receiver<()>)>,
}

impl Acceptor {
    /// Starts accepting on `listener` from the configured number of
    /// threads, sharing one connection limit; connections' tasks that have
    /// to wait go to `runtime`.
    pub(crate) fn start(
        rooms: Arc<Rooms>,
        listener: UnixListener,
        runtime: Handle,
    ) -> io::Result<Self> {
        listener.set_nonblocking(false)?;
        let listener = Arc::new(listener);
        let stop = Arc::new(AtomicBool::new(false));
        let permits = Arc::new(Semaphore::new(rooms.config.max_connections));
        let count = rooms.config.accept_threads.max(1);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let (finished, done) = oneshot::channel();
            let (rooms, listener, stop, permits, runtime) = (
                Arc::clone(&rooms),
                Arc::clone(&listener),
                Arc::clone(&stop),
                Arc::clone(&permits),
                runtime.clone(),
            );
            let thread = thread::Builder::new()
                .name(format!("broker-accept-{i}"))
                .spawn(move || {
                    let _enter = runtime.enter();
                    accept_loop(&rooms, &listener, &permits, &runtime, &stop);
                    let _ = finished.send(());
                })?;
            threads.push((thread, done));
        }
        Ok(Self {
            listener,
            stop,
            threads,
        })
    }

    /// Stops accepting: wakes the threads out of `accept` and waits for them.
    pub(crate) async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        // On Linux a listening socket shut down for reading fails every
        // blocked `accept` with EINVAL.
        let _ = rustix::net::shutdown(&*self.listener, rustix::net::Shutdown::Read);
        for (thread, done) in self.threads {
            let _ = done.await;
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    rooms: &Arc<Rooms>,
    listener: &UnixListener,
    permits: &Arc<Semaphore>,
    runtime: &Handle,
    stop: &AtomicBool,
) {
    loop {
        let Some(permit) = permit(rooms, permits, runtime) else {
            return;
        };
        if rooms.fd_pressure.is_demoted() {
            rooms.fd_pressure.try_leave();
        }
        let accepted = accept(listener);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok(stream) => start_connection(rooms, runtime, stream, permit),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                drop(permit);
                serve_under_fd_pressure(rooms, listener, permits, runtime);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; still serving");
                // A persistent failure must not spin: give it a moment.
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A connection slot (max_connections); waits for one, or for SHUTDOWN.
fn permit(
    rooms: &Arc<Rooms>,
    permits: &Arc<Semaphore>,
    runtime: &Handle,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(permits).try_acquire_owned() {
        return Some(permit);
    }
    let mut shutdown = rooms.lifecycle.shutdown_requested();
    runtime.block_on(async {
        tokio::select! {
            permit = Arc::clone(permits).acquire_owned() => permit.ok(),
            _ = shutdown.wait_for(Option::is_some) => None,
        }
    })
}

/// Accepts one connection, non-blocking and close-on-exec in one syscall.
fn accept(listener: &UnixListener) -> io::Result<UnixStream> {
    use rustix::net::{SocketFlags, accept_with};
    accept_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)
        .map(UnixStream::from)
        .map_err(io::Error::from)
}

/// Polls the connection's task once here; hands it to the event loop
/// only if it has to wait.
fn start_connection(
    rooms: &Arc<Rooms>,
    runtime: &Handle,
    stream: UnixStream,
    permit: OwnedSemaphorePermit,
) {
    let mut task = Box::pin(serve_connection(
        Arc::clone(rooms),
        Connection::new(stream),
        permit,
    ));
    // Whatever the task registered interest in while polled here is polled
    // again by the event loop at once, with its own waker, so no readiness
    // is lost by having been noted with this one.
    let mut cx = Context::from_waker(Waker::noop());
    if task.as_mut().poll(&mut cx) == Poll::Pending {
        runtime.spawn(task);
    }
}

/// EMFILE: enter demotion, spend the reserve descriptor to accept one
/// connection (it will be refused with FD_PRESSURE, ENV-3), then wait for
/// a connection to close instead of spinning on the readable listener.
fn serve_under_fd_pressure(
    rooms: &Arc<Rooms>,
    listener: &UnixListener,
    permits: &Arc<Semaphore>,
    runtime: &Handle,
) {
    let reserve = rooms.fd_pressure.enter();
    if reserve.is_some() {
        drop(reserve);
        // The listener had a connection waiting (that is how EMFILE came
        // about), so this accept does not block.
        if let Ok(permit) = Arc::clone(permits).try_acquire_owned()
            && let Ok(stream) = accept(listener)
        {
            start_connection(rooms, runtime, stream, permit);
        }
    }
    let closed = rooms.lifecycle.connection_closed();
    let _ = runtime.block_on(async { tokio::time::timeout(FD_PRESSURE_RECHECK, closed).await });
}
