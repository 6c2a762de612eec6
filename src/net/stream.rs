//! The one stream type of control and data connections: plain TCP, or (with the `tls` feature,
//! after `AUTH TLS`, on an implicit-TLS listener, or for a data connection under `PROT P`) TLS
//! over it. A wrapper rather than a trait object, so that a plain download still reaches
//! sendfile(2) through [`Stream::plain`]; all TLS work is in `net::tls`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

pub struct Stream {
    /// Shared for the control connection: the shutdown registry holds the same socket to wake
    /// an idle session.
    tcp: Arc<TcpStream>,
    #[cfg(feature = "tls")]
    tls: Option<Box<super::tls::Layer>>,
}

impl Stream {
    pub fn new(tcp: TcpStream) -> Stream {
        Stream::shared(Arc::new(tcp))
    }

    /// A stream over a socket that someone else holds too (see the `tcp` field).
    pub fn shared(tcp: Arc<TcpStream>) -> Stream {
        Stream {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The socket, for its address, descriptor and timeouts. Never for its bytes: writing to
    /// it directly would bypass TLS.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket when nothing is layered on it: the kernel fast paths (sendfile, the receive
    /// low-water mark) may use it.
    pub fn plain(&self) -> Option<&TcpStream> {
        (!self.is_tls()).then_some(&self.tcp)
    }

    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }

    /// True when a read would return at once from bytes already taken off the socket (TLS
    /// decrypts whole records), so polling the socket would not show them.
    pub fn has_buffered_input(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(layer) = &self.tls {
            return layer.has_buffered_input();
        }
        false
    }

    /// Ends the stream's own layer cleanly: TLS sends close_notify. The socket closes on drop.
    pub fn finish(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(layer) = &mut self.tls {
            return layer.close(&self.tcp);
        }
        Ok(())
    }

    /// From now on the stream speaks TLS through `layer` (its handshake already done on this
    /// socket).
    #[cfg(feature = "tls")]
    pub fn protect(&mut self, layer: super::tls::Layer) {
        self.tls = Some(Box::new(layer));
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(layer) = &mut self.tls {
            return layer.read(&self.tcp, buf);
        }
        (&*self.tcp).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(layer) = &mut self.tls {
            return layer.write(&self.tcp, buf);
        }
        (&*self.tcp).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(layer) = &mut self.tls {
            return layer.flush(&self.tcp);
        }
        Ok(())
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}
