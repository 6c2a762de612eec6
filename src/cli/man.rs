//! The `tinyftpd(8)` man page, generated from [`FLAGS`](super::FLAGS) so that it names exactly
//! the flags `--help` does. The committed copy is `contrib/tinyftpd.8`; the integration test
//! `man_page` fails when it differs and rewrites it under `TINYFTPD_UPDATE_MAN=1`.

use super::FLAGS;

/// The date on the page: bump it when the text below changes (the flags carry the version).
const DATE: &str = "2026-12-01";

/// The whole page, in man(7) roff.
pub fn man_page() -> String {
    let mut page = format!(
        ".\\\" Generated from the flag table in src/cli.rs; do not edit. To regenerate:\n\
         .\\\" TINYFTPD_UPDATE_MAN=1 cargo test --test integration man_page\n\
         .TH TINYFTPD 8 {DATE} \"tinyftpd {}\" \"System Administration\"\n",
        env!("CARGO_PKG_VERSION")
    );
    page.push_str(&source_lines(HEAD));
    for f in FLAGS {
        page.push_str(".TP\n");
        page.push_str(&synopsis(f.short, f.long, f.hint));
        page.push('\n');
        let mut text = capitalised(f.help);
        text.push('.');
        if !f.default.is_empty() {
            text.push_str(&format!(" Default: {}.", f.default));
        }
        if !f.more.is_empty() {
            text.push(' ');
            text.push_str(f.more);
        }
        page.push_str(&source_lines(&roff(&text)));
    }
    page.push_str(&source_lines(TAIL));
    page
}

/// Lays out roff source as man pages want it: each sentence on a line of its own (so roff
/// knows where sentences end), lines kept to 80 columns; request lines (`.TP`) stay as they are.
fn source_lines(text: &str) -> String {
    const WIDTH: usize = 80;
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.lines() {
        if line.starts_with('.') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        let mut words = line.split(' ').filter(|w| !w.is_empty()).peekable();
        while let Some(word) = words.next() {
            if !current.is_empty() && current.len() + 1 + word.len() > WIDTH {
                push_text_line(&mut out, &current);
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
            let sentence_ends = word.ends_with(['.', '!', '?'])
                && words.peek().is_some_and(|next| {
                    next.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit())
                });
            if sentence_ends {
                push_text_line(&mut out, &current);
                current.clear();
            }
        }
        push_text_line(&mut out, &current);
    }
    out
}

/// One line of text: one that would start with `.` or `'` would be read as a request.
fn push_text_line(out: &mut String, line: &str) {
    if line.is_empty() {
        return;
    }
    if line.starts_with(['.', '\'']) {
        out.push_str("\\&");
    }
    out.push_str(line);
    out.push('\n');
}

/// `\fB\-p\fR, \fB\-\-port\fR \fIPORT\fR`
fn synopsis(short: &str, long: &str, hint: &str) -> String {
    let mut s = String::new();
    if !short.is_empty() {
        s.push_str(&format!("\\fB\\-{short}\\fR, "));
    }
    s.push_str(&format!("\\fB{}\\fR", roff(&format!("--{long}"))));
    if !hint.is_empty() {
        s.push_str(&format!(" \\fI{}\\fR", roff(hint)));
    }
    s
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Escapes text for roff: a backslash is `\e`; the dashes of a word that starts with one (`-w`,
/// `--run-as`) are real minus signs `\-`, so a flag can be copied from the rendered page, while
/// the hyphen in "read-only" stays one; a line cannot start with a control character.
fn roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut word_start = true;
    let mut flag_word = false;
    for c in text.chars() {
        if word_start {
            flag_word = c == '-';
        }
        match c {
            '\\' => out.push_str("\\e"),
            '-' if flag_word => out.push_str("\\-"),
            _ => out.push(c),
        }
        word_start = matches!(c, ' ' | '(' | '[' | '/' | '"');
    }
    if out.starts_with(['.', '\'']) {
        out.insert_str(0, "\\&");
    }
    out
}

const HEAD: &str = r#".SH NAME
tinyftpd \- a small, fast, secure FTP server that serves one directory
.SH SYNOPSIS
.B tinyftpd
[\fIOPTIONS\fR] [\fIDIR\fR]
.SH DESCRIPTION
.B tinyftpd
serves
.I DIR
(default: the current directory) over FTP: RFC 959 with the extensions real clients use
(EPSV/EPRT, SIZE, MDTM, REST, MLSD/MLST, UTF8).
It is anonymous and read\-only unless options say otherwise.
.PP
It runs in the foreground and never daemonizes; let the init system or a supervisor run it.
When it listens, it prints one line naming the address and directory on standard output.
Logging goes to standard error, each line starting with the time in UTC (RFC 3339, such as
2026\-12\-01T12:00:00.123Z), or without it when standard error is the journal (systemd sets
.BR JOURNAL_STREAM ),
which stamps lines itself; with
.B \-\-syslog
it goes to the local syslog socket instead.
The level follows
.BR RUST_LOG .
At the default level there is a line for each session start and end, login (a failed one is a
warning) and transfer; passwords are never logged.
Started by systemd with
.B LISTEN_FDS
(a .socket unit without
.BR Accept= ),
it serves on the sockets passed instead of binding.
With
.B \-\-inetd
it serves one session on standard input and output, for inetd, xinetd, tcpsvd and systemd
.BR Accept=yes .
.PP
A flag given twice: the last one wins (so a later
.B \-\-port
overrides one in
.BR $TINYFTPD_OPTS );
.B \-b
and
.B \-u
add up.
.SH OPTIONS
"#;

const TAIL: &str = r#".SH SIGNALS
.TP
.BR SIGTERM ", " SIGINT
Stop accepting, answer idle sessions
.B 421 Server shutting down
and let running transfers finish for up to
.B \-\-shutdown\-grace
seconds, then exit 0.
.TP
.B SIGHUP
Re\-read the
.B \-\-users
file without dropping sessions (a broken file keeps the old accounts and logs why), and reopen the
.B \-\-xferlog
file.
.SH FILES
.TP
.I /etc/default/tinyftpd
In the Debian package:
.B TINYFTPD_OPTS
(the options) and
.B TINYFTPD_DIR
(the directory, default
.IR /srv/ftp ),
read by the systemd unit.
.TP
The \fB\-\-users\fR file
One account per line,
\fIname\fR:\fIhash\fR:\fBro\fR|\fBrw\fR[:\fI/folder\fR],
where
.I hash
is a
.BR crypt (3)
string: $6$ (SHA\-512) or $5$ (SHA\-256), as
.B tinyftpd \-\-hash\-password
prints;
.B ro
is read\-only and
.B rw
writable; the optional
.I /folder
(relative to
.IR DIR )
is all the account sees, as its /.
Blank lines and lines starting with # are ignored.
Keep the file outside
.IR DIR ;
it may be mode 0600 and owned by root even with
.BR \-\-run\-as ,
since it is opened before privileges are dropped.
.TP
.I /var/log/tinyftpd/xferlog
The transfer log of the packaged systemd unit, in the xferlog format of wu\-ftpd, vsftpd and ProFTPD.
.SH "EXIT STATUS"
.TP
.B 0
Stopped by SIGTERM or SIGINT; or
.BR \-\-help ,
.B \-\-version
or
.B \-\-hash\-password
done.
.TP
.B 1
A start\-up error: the port is taken,
.I DIR
cannot be listed or entered, the pid file or transfer log cannot be written, or privileges
cannot be dropped.
.TP
.B 2
A bad flag or value; the usage goes to standard error.
.SH SECURITY
FTP is plain text, passwords included: keep logins to networks you trust, or leave the server
anonymous and read\-only.
.PP
Every path a client names is resolved inside
.IR DIR :
.B ..
never climbs above /, and a symbolic link that leads outside
.I DIR
is refused as if it did not exist.
Started as root with
.B \-\-chroot
and
.BI \-\-run\-as " USER" ,
tinyftpd binds its port, locks itself into
.IR DIR ,
switches to
.I USER
for good (groups, gid, uid) and checks that root cannot be regained, all before it accepts a client.
.SH EXAMPLES
Serve /srv/ftp read\-only to anyone, on port 2121:
.PP
.RS 4
.nf
tinyftpd /srv/ftp
.fi
.RE
.PP
On port 21, locked into the directory as user ftp:
.PP
.RS 4
.nf
tinyftpd \-p 21 \-\-run\-as ftp \-\-chroot /srv/ftp
.fi
.RE
.PP
A scanner uploads with its own account from a users file; everyone else reads:
.PP
.RS 4
.nf
echo \(aqs3cret\(aq | tinyftpd \-\-hash\-password
echo \(aqscanner:$6$...:rw\(aq > /etc/tinyftpd.users
tinyftpd \-p 21 \-\-anonymous \-\-users /etc/tinyftpd.users /srv/scans
.fi
.RE
.SH "SEE ALSO"
.BR curl (1),
.BR lftp (1),
.BR crypt (5),
.BR xferlog (5),
.BR inetd (8),
.BR systemd.socket (5)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_on_the_page_and_in_the_help() {
        let page = man_page();
        let help = super::super::usage();
        for f in FLAGS {
            let long = format!("\\fB\\-\\-{}\\fR", f.long.replace('-', "\\-"));
            assert!(page.contains(&long), "man page lacks --{}", f.long);
            assert!(
                help.contains(&format!("--{}", f.long)),
                "help lacks --{}",
                f.long
            );
            if !f.short.is_empty() {
                assert!(page.contains(&format!("\\fB\\-{}\\fR, ", f.short)));
                assert!(help.contains(&format!("-{}, --{}", f.short, f.long)));
            }
        }
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(
            roff("-w and --run-as, read-only"),
            "\\-w and \\-\\-run\\-as, read-only"
        );
        assert_eq!(roff("(default: -u)"), "(default: \\-u)");
        assert_eq!(roff(".x 'y"), "\\&.x 'y");
        assert_eq!(roff("a\\b"), "a\\eb");
        assert_eq!(capitalised("port to"), "Port to");
        assert_eq!(
            source_lines(".TP\nOne. Two 2. three (a .socket unit)\n"),
            ".TP\nOne.\nTwo 2. three (a .socket unit)\n"
        );
        let long = "word ".repeat(16);
        let wrapped = source_lines(&format!("{long}.socket"));
        assert!(wrapped.lines().all(|l| l.len() <= 80), "{wrapped}");
        assert!(wrapped.ends_with("word\n\\&.socket\n"), "{wrapped}");
    }
}
