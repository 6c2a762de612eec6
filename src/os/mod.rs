//! Every call into libc that needs `unsafe`, each block with a `// SAFETY:` comment: `sys` (the
//! system calls std does not offer), `dirents` (a directory's entries for listings, read
//! without a copy per name), `signals`, `stack` (giving back an idle session's stack pages),
//! `splice` (uploads through a pipe), `privileges` (chroot and the privilege drop) and
//! `activation` (sockets passed by inetd or systemd). The crate root denies unsafe code; only
//! the modules below allow it, so `cargo build` fails if unsafe code appears anywhere else.
//!
//! Must not touch: anything FTP. These modules import nothing from the rest of the crate and
//! offer safe functions (or `unsafe fn` where the caller must vouch for a raw descriptor).

#[allow(unsafe_code)]
pub mod activation;
#[allow(unsafe_code)]
pub mod dirents;
#[allow(unsafe_code)]
pub mod privileges;
#[allow(unsafe_code)]
pub mod signals;
#[allow(unsafe_code)]
pub mod splice;
#[allow(unsafe_code)]
pub mod stack;
#[allow(unsafe_code)]
pub mod sys;
