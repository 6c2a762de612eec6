//! The `tinyftpd` binary: parse flags, bind, serve.
fn main() {
    println!("tinyftpd");
}
