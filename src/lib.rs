//! tinyftpd: a small, fast, secure FTP server that serves one directory.
pub mod sha2;
pub mod sha_crypt;
