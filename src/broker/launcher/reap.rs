//! LCH-5: each launched backend is waited for; its death is classified,
//! recorded, and pruned from the registry (identity-guarded, REG-4).

use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::registry::LiveBackend;
use super::{Launcher, remove_socket_file};
use crate::events::{BrokerEvent, Death};

/// How a backend ended (EVT-2): stopped by the broker's own shutdown,
/// exited 0 on its own, or anything else.
pub(super) fn classify(stopped_by_broker: bool, status: &std::io::Result<ExitStatus>) -> Death {
    match status {
        _ if stopped_by_broker => Death::Shutdown,
        Ok(s) if s.success() => Death::Idle,
        Ok(s) => Death::Crash {
            detail: format!("exited: {s}"),
        },
        Err(e) => Death::Crash {
            detail: format!("wait failed: {e}"),
        },
    }
}

/// Waits for the backend to exit, then records its death, prunes it from
/// the registry and removes its sockets.
pub(super) async fn reap(
    launcher: Arc<Launcher>,
    backend: Arc<LiveBackend>,
    mut child: tokio::process::Child,
) {
    let status = child.wait().await;
    launcher.reaping.fetch_add(1, Ordering::SeqCst);
    let death = classify(launcher.is_stopping(backend.pid), &status);
    launcher.endpoints.update(|book| book.died(backend.pid));
    launcher
        .registry
        .remove_if_same(&backend.key, backend.pid, backend.start_time);
    remove_socket_file(&backend.backend_pipe);
    if let Some(p) = &backend.handoff_pipe {
        remove_socket_file(p);
    }
    tracing::info!(pid = backend.pid, service = %backend.key.service, "{}", death.reason());
    launcher.events.emit(BrokerEvent::Died {
        service: backend.key.service.clone(),
        version: backend.key.version.clone(),
        pid: backend.pid,
        death,
    });
    launcher.reaping.fetch_sub(1, Ordering::SeqCst);
    launcher.reaped.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn deaths_are_classified_shutdown_first_then_by_status() {
        let ok = Ok(ExitStatus::from_raw(0));
        let crashed = Ok(ExitStatus::from_raw(9)); // killed by SIGKILL
        assert_eq!(classify(true, &crashed), Death::Shutdown);
        assert_eq!(classify(false, &ok), Death::Idle);
        assert!(
            matches!(classify(false, &crashed), Death::Crash { detail } if detail.starts_with("exited: "))
        );
        let failed = Err(std::io::Error::other("ECHILD"));
        assert!(
            matches!(classify(false, &failed), Death::Crash { detail } if detail.starts_with("wait failed"))
        );
    }
}
