//! `tinyftpd::command_table::parse` on one control line.
//!
//! Properties, beyond "never panics":
//! - round trip: when `parse(line)` is `Ok(cmd)`, `parse(&cmd.to_line())` is `Ok(cmd)` again, and
//!   printing that once more gives the same bytes (the printed form is a fixed point);
//! - every parsed command except `Unknown` has a row in the command table under its verb;
//! - `loggable()` never shows a PASS argument.
//!
//! The input is cut at its first LF and one trailing CR is removed, as the control reader does.
//! A line that still holds a CR cannot be sent over a control connection in one piece once
//! printed (CR LF would end it), so the round trip is only asserted for lines without CR.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyftpd::command::Command;
use tinyftpd::command_table::{self, parse};

fuzz_target!(|data: &[u8]| {
    let line = match data.iter().position(|&b| b == b'\n') {
        Some(lf) => &data[..lf],
        None => data,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);

    let cmd = match parse(line) {
        Ok(cmd) => cmd,
        Err(e) => {
            // The reply text must be printable for any error.
            let _ = e.to_string();
            return;
        }
    };

    let log = cmd.loggable();
    if let Command::Pass(secret) = &cmd {
        assert_eq!(log, "PASS ****", "password {secret:?} reached the log form");
    }
    if !matches!(cmd, Command::Unknown(_)) {
        assert!(
            command_table::entry_of(&cmd).is_some(),
            "no table row for {cmd:?}"
        );
    }

    if line.contains(&b'\r') {
        return;
    }
    let printed = cmd.to_line();
    assert!(
        !printed.contains(&b'\n') && !printed.contains(&b'\r'),
        "printed form of {cmd:?} holds a line end: {printed:?}"
    );
    let again = parse(&printed);
    assert_eq!(
        again.as_ref(),
        Ok(&cmd),
        "round trip failed: line {:?} -> {cmd:?} -> {:?}",
        String::from_utf8_lossy(line),
        String::from_utf8_lossy(&printed)
    );
    assert_eq!(
        again.unwrap().to_line(),
        printed,
        "printed form is not stable"
    );
});
