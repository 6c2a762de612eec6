//! `tinyftpd::control_line::ControlReader` on an arbitrary byte stream.
//!
//! Input layout: `[n] [schedule: n % 16 + 1 bytes] [repeat] [payload...]`. The payload, repeated
//! `repeat % 8 + 1` times (so that lines longer than `MAX_LINE` are cheap to reach), is served by
//! a reader whose successive `read` calls return chunks of the sizes in the schedule (cycled):
//! 0 means "fail with `Interrupted`", 1 means "fail with `WouldBlock`" (a read timeout; the
//! harness calls `read_line` again, as a caller that tolerates timeouts would), 2..=239 that many
//! bytes, 240..=255 a multiple of 512 bytes.
//!
//! Properties, beyond "never panics" and "terminates":
//! - every `Line` is at most `MAX_LINE` bytes and holds no LF;
//! - no more lines come out than there are LF bytes in the stream;
//! - the lines do not depend on how the stream is chunked (same as one plain slice reader);
//! - for a stream without IAC (0xFF) bytes, the lines are exactly the LF-separated pieces with
//!   one trailing CR removed, `TooLong` for pieces over `MAX_LINE`, the unterminated tail dropped.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use tinyftpd::control_line::{ControlLine, ControlReader, MAX_LINE};

struct Chunked<'a> {
    data: &'a [u8],
    pos: usize,
    schedule: &'a [u8],
    step: usize,
    last_was_error: bool,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let code = self.schedule[self.step % self.schedule.len()];
        self.step += 1;
        // An error is never followed by another, so every second call makes progress.
        if !self.last_was_error && self.pos < self.data.len() {
            match code {
                0 => {
                    self.last_was_error = true;
                    return Err(io::ErrorKind::Interrupted.into());
                }
                1 => {
                    self.last_was_error = true;
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                _ => {}
            }
        }
        self.last_was_error = false;
        let want = match code {
            0..=1 => 1,
            2..=239 => usize::from(code),
            _ => usize::from(code - 239) * 512,
        };
        let n = want.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn collect<R: Read>(reader: R, max_lines: usize) -> Vec<ControlLine> {
    let mut reader = ControlReader::new(reader);
    let mut out = Vec::new();
    let mut errors = 0usize;
    loop {
        match reader.read_line() {
            Ok(Some(line)) => {
                if let ControlLine::Line(bytes) = &line {
                    assert!(bytes.len() <= MAX_LINE, "line of {} bytes", bytes.len());
                    assert!(!bytes.contains(&b'\n'), "LF inside a line");
                }
                out.push(line);
                assert!(out.len() <= max_lines, "more lines than LF bytes");
            }
            Ok(None) => return out,
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "unexpected error {e}");
                errors += 1;
                // Each injected error is followed by progress, so this bounds the loop.
                assert!(errors <= 1 << 24, "no progress");
            }
        }
    }
}

/// What the reader must produce for a stream without telnet commands.
fn model(stream: &[u8]) -> Vec<ControlLine> {
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    pieces.pop(); // the part after the last LF (possibly empty) is not a line
    pieces
        .into_iter()
        .map(|piece| {
            let piece = piece.strip_suffix(b"\r").unwrap_or(piece);
            if piece.len() > MAX_LINE {
                ControlLine::TooLong
            } else {
                ControlLine::Line(piece.to_vec())
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(n % 16) + 1;
    if rest.len() < k + 1 {
        return;
    }
    let (schedule, rest) = rest.split_at(k);
    let (&repeat, payload) = rest.split_first().unwrap();
    let stream = payload.repeat(usize::from(repeat % 8) + 1);
    let lf_count = stream.iter().filter(|&&b| b == b'\n').count();

    let chunked = collect(
        Chunked {
            data: &stream,
            pos: 0,
            schedule,
            step: 0,
            last_was_error: false,
        },
        lf_count,
    );
    let whole = collect(&stream[..], lf_count);
    assert_eq!(chunked, whole, "result depends on the read chunking");

    if !stream.contains(&0xFF) {
        assert_eq!(whole, model(&stream), "differs from the IAC-free model");
    }
});
