//! The served directory: `jail` turns a client's [`jail::VirtualPath`] into a
//! [`jail::JailedPath`] (the only resolver, and the only code that opens or changes things by
//! name below the root), `listing` formats directory entries (pure), and `civil_time` does the
//! calendar arithmetic that listings, MDTM and MFMT need (pure; the parser uses it too).
//!
//! Must not touch: sockets, sessions or replies. System calls go through `os::sys`.

pub(crate) mod civil_time;
pub mod jail;
pub(crate) mod listing;
