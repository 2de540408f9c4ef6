//! Graceful shutdown on SIGINT and SIGTERM in one call (feature `signals`,
//! on by default), through the `signal-hook` crate.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::Error;
use crate::handle::shutdown::ShutdownSignal;

/// Listens for SIGINT and SIGTERM on a thread of its own: the first calls
/// `shutdown` (the server's graceful shutdown); one after that (the operator insists, or
/// the server has stopped) ends the process at once with status 128 + the
/// signal, as the default disposition would have.
///
/// The handlers stay installed for the life of the process: signal-hook
/// cannot put the previous disposition back (unregistering would leave the
/// signals ignored), so the thread stays too, and keeps the default's
/// meaning once the server is gone.
pub(crate) fn shutdown_on_signals(
    shutting_down: ShutdownSignal,
    shutdown: impl Fn() + Send + 'static,
) -> Result<(), Error> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("tether-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if shutting_down.is_shutting_down() {
                    log::warn!("signal {signal} while shutting down: stopping now");
                    std::process::exit(128 + signal);
                }
                log::warn!("signal {signal}: shutting down gracefully (again to stop at once)");
                shutdown();
            }
        })?;
    Ok(())
}
