//! A fault proxy: a TCP relay between the desk and Dovecot or Postfix that can pass,
//! delay, blackhole (keep the connection open, forward nothing — a half-open connection
//! or a hung server, as the desk sees it), reset, or refuse a command as the server would.
//!
//! ```ignore
//! let proxy = Proxy::start(stack.imap_port);
//! // point the desk at proxy.port …
//! proxy.blackhole();          // every connection, open or new, goes silent
//! proxy.pass();               // new connections work again; silenced ones stay dead
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the relay does with the bytes it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Forward each chunk after this long.
    Delay(Duration),
    /// Forward nothing, close nothing; a connection silenced stays silent.
    Blackhole,
    /// Pass until the client sends these bytes, then blackhole that connection (the
    /// bytes before the marker are forwarded); later connections pass. One shot.
    BlackholeAfter(Vec<u8>),
    /// Pass until the client sends these bytes, then close that connection (both
    /// sides); every connection alike, for as long as the mode holds.
    CloseOn(Vec<u8>),
    /// Answer every IMAP command line holding these bytes with a tagged `NO`, as a
    /// server refusing it would, instead of forwarding it; other lines pass.
    RefuseCommand(Vec<u8>),
    /// Hold what the client sends from the read holding these bytes on, until the mode
    /// changes: the test does something between a command and its answer.
    HoldOn(Vec<u8>),
}

struct Link {
    client: TcpStream,
    server: TcpStream,
}

struct State {
    mode: Mutex<Mode>,
    links: Mutex<Vec<Link>>,
    /// Markers counted in what clients send (see [`Proxy::watch`]), with their counts.
    watches: Mutex<Vec<(Vec<u8>, usize)>>,
    accepted: AtomicUsize,
    stopping: AtomicBool,
}

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
}

impl Proxy {
    /// Listens on a free loopback port, relaying to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Pass),
            links: Mutex::new(Vec::new()),
            watches: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        });
        let st = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming() {
                if st.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                st.accepted.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let dead = Arc::new(AtomicBool::new(false));
                // A connection made while blackholing is silent from the start.
                if *st.mode.lock().unwrap() == Mode::Blackhole {
                    dead.store(true, Ordering::SeqCst);
                }
                st.links.lock().unwrap().push(Link {
                    client: client.try_clone().unwrap(),
                    server: server.try_clone().unwrap(),
                });
                for (from, to, upward) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (
                        server.try_clone().unwrap(),
                        client.try_clone().unwrap(),
                        false,
                    ),
                ] {
                    let (st, dead) = (Arc::clone(&st), Arc::clone(&dead));
                    thread::spawn(move || pump(from, to, upward, &st, &dead));
                }
            }
        });
        Proxy { port, state }
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn pass(&self) {
        self.set(Mode::Pass);
    }

    pub fn blackhole(&self) {
        self.set(Mode::Blackhole);
    }

    /// Starts counting `marker` in what clients send from now on (whatever the mode);
    /// returns the handle [`Proxy::sent`] takes. A marker split across two reads is
    /// counted; one sent whole in one write, as a command line is, always is.
    pub fn watch(&self, marker: &[u8]) -> usize {
        let mut watches = self.state.watches.lock().unwrap();
        watches.push((marker.to_vec(), 0));
        watches.len() - 1
    }

    /// How many times the marker of `watch` was sent since it began.
    pub fn sent(&self, watch: usize) -> usize {
        self.state.watches.lock().unwrap()[watch].1
    }

    /// How many connections the desk has opened through the proxy.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Resets every open connection (RST to both sides).
    pub fn reset(&self) {
        for link in self.state.links.lock().unwrap().drain(..) {
            for s in [&link.client, &link.server] {
                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.reset();
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, upward: bool, st: &State, dead: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    // The last bytes seen, so a marker split across two reads is still found.
    let mut tail: Vec<u8> = Vec::new();
    // A command line read so far (`RefuseCommand`: the desk writes a tag and the rest of
    // its command apart, and a line is judged whole).
    let mut line: Vec<u8> = Vec::new();
    // The last bytes counted, for `count_markers`.
    let mut counted_tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if upward {
            count_markers(st, &mut counted_tail, chunk);
        }
        if dead.load(Ordering::SeqCst) {
            continue; // silenced: read and drop, so the sender never blocks
        }
        let mode = st.mode.lock().unwrap().clone();
        match mode {
            Mode::Pass => {}
            Mode::Delay(d) => thread::sleep(d),
            Mode::Blackhole => {
                dead.store(true, Ordering::SeqCst);
                continue;
            }
            Mode::BlackholeAfter(marker) if upward => {
                let mut seen = tail.clone();
                seen.extend_from_slice(chunk);
                if let Some(at) = seen.windows(marker.len()).position(|w| w == marker) {
                    let before = at.saturating_sub(tail.len());
                    let _ = to.write_all(&chunk[..before]);
                    dead.store(true, Ordering::SeqCst);
                    *st.mode.lock().unwrap() = Mode::Pass;
                    continue;
                }
                let keep = marker.len().min(seen.len());
                tail = seen[seen.len() - keep..].to_vec();
            }
            Mode::BlackholeAfter(_) => {}
            Mode::CloseOn(marker) if upward => {
                let mut seen = tail.clone();
                seen.extend_from_slice(chunk);
                if seen.windows(marker.len()).any(|w| w == marker) {
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
                let keep = marker.len().min(seen.len());
                tail = seen[seen.len() - keep..].to_vec();
            }
            Mode::CloseOn(_) => {}
            Mode::RefuseCommand(marker) if upward => {
                line.extend_from_slice(chunk);
                if refuse_lines(&mut line, &marker, &mut from, &mut to).is_err() {
                    break;
                }
                continue;
            }
            Mode::RefuseCommand(_) => {}
            Mode::HoldOn(marker) if upward => {
                let mut seen = tail.clone();
                seen.extend_from_slice(chunk);
                if seen.windows(marker.len()).any(|w| w == marker) {
                    while *st.mode.lock().unwrap() == Mode::HoldOn(marker.clone())
                        && !st.stopping.load(Ordering::SeqCst)
                    {
                        thread::sleep(Duration::from_millis(2));
                    }
                }
                let keep = marker.len().min(seen.len());
                tail = seen[seen.len() - keep..].to_vec();
            }
            Mode::HoldOn(_) => {}
        }
        // Out of `RefuseCommand`: the unfinished line it held goes first, not lost.
        if !line.is_empty() && to.write_all(&std::mem::take(&mut line)).is_err() {
            break;
        }
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    if !dead.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}

/// Counts each watched marker that ends in `chunk` (`tail`: the bytes before it).
fn count_markers(st: &State, tail: &mut Vec<u8>, chunk: &[u8]) {
    let mut watches = st.watches.lock().unwrap();
    let longest = watches.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut seen = std::mem::take(tail);
    let fresh_from = seen.len();
    seen.extend_from_slice(chunk);
    for (marker, count) in watches.iter_mut() {
        *count += seen
            .windows(marker.len())
            .enumerate()
            .filter(|(at, w)| w == marker && at + marker.len() > fresh_from)
            .count();
    }
    let keep = longest.saturating_sub(1).min(seen.len());
    *tail = seen[seen.len() - keep..].to_vec();
}

/// Forwards the whole lines read so far in `read` to `server`, except those holding
/// `marker`, which `client` is told the server refused (`<tag> NO …`); an unfinished
/// line stays in `read`. The desk sends one command and waits for its answer.
fn refuse_lines(
    read: &mut Vec<u8>,
    marker: &[u8],
    client: &mut TcpStream,
    server: &mut TcpStream,
) -> std::io::Result<()> {
    while let Some(end) = read.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = read.drain(..=end).collect();
        if line.windows(marker.len()).any(|w| w == marker) {
            let tag = line.split(|&b| b == b' ').next().unwrap_or_default();
            client.write_all(&[tag, b" NO [CANNOT] refused by the test proxy\r\n"].concat())?;
        } else {
            server.write_all(&line)?;
        }
    }
    Ok(())
}
