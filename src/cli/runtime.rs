//! Serving under a runtime: a tokio runtime, SIGTERM/SIGINT as a cancellation, the exit
//! status (shared by `kdns` and `kdns node-local`).
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::app::AppError;

/// Logs the DNS addresses served.
pub(crate) fn log_listening(addrs: &[std::net::SocketAddr]) {
    for a in addrs {
        tracing::info!("listening on {a} (udp, tcp)");
    }
}

/// Runs `serve` on a new runtime, with a token cancelled on SIGTERM/SIGINT.
pub(crate) fn block_on<F>(serve: impl FnOnce(CancellationToken) -> F) -> Result<(), AppError>
where
    F: std::future::Future<Output = Result<(), AppError>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kdns: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        serve(shutdown).await
    })
}

/// The exit status for how serving ended.
pub(crate) fn exit_status(result: Result<(), AppError>) -> ExitCode {
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kdns: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    shutdown.cancel();
    tracing::info!("{which}: shutting down");
}
