//! The data connection: `data_channel` sets it up (PASV/EPSV listeners, PORT/EPRT connects, the
//! peer checks against bounce attacks and port theft) and `transfer` is the only code that moves
//! file bytes (sendfile, receive, atomic upload, ASCII, throttle). `stream` is the one type both
//! connections are read and written through (plain TCP, or TLS from `tls`, which exists only
//! with the `tls` feature).
//!
//! Must not touch: the control connection or session state (a transfer reports progress through
//! the callback it is given), or paths that did not come through `fs::jail`.

pub(crate) mod data_channel;
pub(crate) mod stream;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub mod transfer;
