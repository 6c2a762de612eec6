//! A failed login takes as long whether the name is unknown, a `-u` account or a costly
//! `--users` hash: its timing tells an attacker nothing about which accounts exist.

use std::time::{Duration, Instant};

use tinyftpd::config::{Account, Credential};
use tinyftpd::sha_crypt;

use crate::support::{TempDir, TestServer};

/// A well-formed `$6$` hash with 10,000 rounds (twice the default, about 10 ms here). No known
/// password matches it; every attempt below fails.
const COSTLY_HASH: &str = "$6$rounds=10000$timingsalt$\
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.";

const TRIES: usize = 30;

/// Small, so the test stays short, but above the hash cost on an idle machine: failures are
/// padded to it (on a loaded machine the dummy hash still has to even them out).
const FAILURE_DELAY: Duration = Duration::from_millis(30);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn failed_logins_take_as_long_for_unknown_plain_and_hashed_names() {
    let users = TempDir::new("timing-users");
    let users_file = users.write("users", format!("hashed:{COSTLY_HASH}:ro\n").as_bytes());
    let s = TestServer::with(|c| {
        c.anonymous = false;
        c.login_failure_delay = FAILURE_DELAY;
        c.users_file = Some(users_file.clone());
        c.accounts = vec![Account {
            name: "plain".into(),
            credential: Credential::Plain("secret".into()),
            writable: false,
            root: None,
        }];
    });
    let names = ["hashed", "plain", "nobody-here"];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    // Interleaved, three tries per connection (the third failure closes it), so that load on
    // the machine falls on every name alike.
    for _ in 0..TRIES / 3 {
        for (name, times) in names.iter().zip(&mut samples) {
            let mut c = s.client();
            for attempt in 1..=3 {
                c.expect(format!("USER {name}"), 331);
                let started = Instant::now();
                let reply = c.cmd("PASS wrong-password");
                times.push(started.elapsed());
                assert_eq!(reply.code, if attempt == 3 { 421 } else { 530 });
            }
        }
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    let hashed = medians[0];
    assert!(
        hashed >= FAILURE_DELAY,
        "failures padded to the delay: {hashed:?}"
    );
    // Well below the cost of the hash itself (what told the names apart before), measured now
    // so that a loaded machine widens both alike.
    let hash_cost = median(
        (0..5)
            .map(|_| {
                let started = Instant::now();
                assert!(!sha_crypt::verify(b"wrong-password", COSTLY_HASH));
                started.elapsed()
            })
            .collect(),
    );
    let tolerance = hash_cost / 3;
    for (name, m) in names.iter().zip(&medians) {
        assert!(
            m.abs_diff(hashed) < tolerance,
            "failed login for {name} took {m:?}, for the hashed account {hashed:?} \
             (medians over {TRIES} tries: {medians:?}; the hash costs {hash_cost:?})"
        );
    }
}
