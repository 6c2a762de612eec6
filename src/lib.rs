//! tinyftpd: a small, fast, secure FTP server that serves one directory.
