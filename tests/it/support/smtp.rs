//! A minimal blocking SMTP client for tests: EHLO, MAIL FROM, RCPT TO, DATA
//! (with dot-stuffing), QUIT. Plain TCP, meant for the loopback test stack.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends one message; `Err` carries the server's reply to the step that failed.
pub fn send(port: u16, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
    let mut session = Session::connect(port)?;
    session.expect(None, 220)?;
    session.expect(Some("EHLO secdesk-tests.localhost"), 250)?;
    session.expect(Some(&format!("MAIL FROM:<{from}>")), 250)?;
    for rcpt in to {
        session.expect(Some(&format!("RCPT TO:<{rcpt}>")), 250)?;
    }
    session.expect(Some("DATA"), 354)?;
    session.write(&dot_stuff(raw))?;
    session.expect(None, 250)?;
    session.expect(Some("QUIT"), 221)?;
    Ok(())
}

/// The DATA payload for `raw`: CRLF line endings, a leading "." doubled on
/// every line, and the terminating "." line.
pub fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 64 + 8);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    fn connect(port: u16) -> Result<Self, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connect to SMTP port {port}: {e}"))?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let writer = stream.try_clone().unwrap();
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .map_err(|e| format!("SMTP write: {e}"))
    }

    /// Sends `command` (if any), then reads a reply and checks its code.
    fn expect(&mut self, command: Option<&str>, code: u16) -> Result<String, String> {
        if let Some(command) = command {
            self.write(format!("{command}\r\n").as_bytes())?;
        }
        let reply = self.reply()?;
        if reply.starts_with(&code.to_string()) {
            Ok(reply)
        } else {
            let step = command.unwrap_or("(message data)");
            Err(format!("SMTP {step} -> {}", reply.trim_end()))
        }
    }

    /// One reply, all lines of a multi-line one ("250-..." up to "250 ...").
    fn reply(&mut self) -> Result<String, String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("SMTP read: {e}"))?;
            if n == 0 {
                return Err(format!("SMTP connection closed; read so far: {all:?}"));
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dot_stuff;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuff(b".\nx"), b"..\r\nx\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }
}
