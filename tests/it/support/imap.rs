//! A minimal blocking IMAP client for tests: just enough of RFC 9051/3501 to
//! log in, select, fetch whole messages, append and create mailboxes. Plain
//! TCP, meant for the loopback test stack.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One untagged server response ("* ..."), with its literals taken out:
/// `text` has every literal replaced by its `{n}` marker, `literals` holds
/// their bytes in order.
#[derive(Debug, Clone)]
pub struct Untagged {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

pub struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

impl Imap {
    /// Connects and reads the greeting.
    pub fn connect(port: u16) -> Imap {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to IMAP port {port}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let writer = stream.try_clone().unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream),
            writer,
            next_tag: 1,
        };
        let (greeting, _) = imap.read_response();
        assert!(greeting.starts_with("* OK"), "IMAP greeting: {greeting}");
        imap
    }

    /// Connects and logs in, panicking if the login fails.
    pub fn login_to(port: u16, user: &str, password: &str) -> Imap {
        let mut imap = Imap::connect(port);
        imap.login(user, password)
            .unwrap_or_else(|e| panic!("IMAP login as {user}: {e}"));
        imap
    }

    /// `Err` carries the tagged NO/BAD line.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        let command = format!("LOGIN {} {}", quote(user), quote(password));
        self.command(&command).map(drop)
    }

    /// Selects `mailbox`; returns its EXISTS count.
    pub fn select(&mut self, mailbox: &str) -> usize {
        let responses = self.ok(&format!("SELECT {}", quote(mailbox)));
        exists(&responses).unwrap_or(0)
    }

    /// NOOP, which makes the server report changes to the selected mailbox:
    /// the new EXISTS count, if it changed.
    pub fn noop(&mut self) -> Option<usize> {
        exists(&self.ok("NOOP"))
    }

    /// Every message of the selected mailbox as `(uid, raw bytes)`, in UID order.
    pub fn fetch_all(&mut self) -> Vec<(u32, Vec<u8>)> {
        let responses = self.ok("UID FETCH 1:* (BODY.PEEK[])");
        let mut messages: Vec<(u32, Vec<u8>)> = responses
            .into_iter()
            .filter(|r| r.text.contains(" FETCH ("))
            .filter_map(|r| {
                let uid = fetch_uid(&r.text)?;
                let body = r.literals.into_iter().next()?;
                Some((uid, body))
            })
            .collect();
        messages.sort_by_key(|(uid, _)| *uid);
        messages
    }

    /// Appends `raw` to `mailbox` (no flags).
    pub fn append(&mut self, mailbox: &str, raw: &[u8]) {
        let tag = self.send_tagged(&format!("APPEND {} {{{}}}", quote(mailbox), raw.len()));
        // Synchronizing literal: wait for the server's "+" before the bytes.
        let (line, _) = self.read_response();
        assert!(line.starts_with('+'), "IMAP APPEND {mailbox}: {line}");
        let mut payload = raw.to_vec();
        payload.extend_from_slice(b"\r\n");
        self.writer.write_all(&payload).unwrap();
        if let Err(e) = self.finish(&tag) {
            panic!("IMAP APPEND {mailbox}: {e}");
        }
    }

    pub fn create(&mut self, mailbox: &str) {
        self.ok(&format!("CREATE {}", quote(mailbox)));
    }

    pub fn logout(mut self) {
        // The server may close the connection right after its reply.
        let _ = self.command("LOGOUT");
    }

    /// Runs `command`, panicking unless it ends in a tagged OK.
    pub fn ok(&mut self, command: &str) -> Vec<Untagged> {
        self.command(command)
            .unwrap_or_else(|e| panic!("IMAP {command}: {e}"))
    }

    /// Runs `command`: `Ok` with the untagged responses if the tagged reply
    /// is OK, `Err` with the tagged reply line otherwise.
    pub fn command(&mut self, command: &str) -> Result<Vec<Untagged>, String> {
        let tag = self.send_tagged(command);
        self.finish(&tag)
    }

    fn send_tagged(&mut self, command: &str) -> String {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("IMAP write {command}: {e}"));
        tag
    }

    /// Collects untagged responses up to the tagged reply for `tag`.
    fn finish(&mut self, tag: &str) -> Result<Vec<Untagged>, String> {
        let mut untagged = Vec::new();
        loop {
            let (text, literals) = self.read_response();
            if let Some(rest) = text.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                return if rest.starts_with("OK") {
                    Ok(untagged)
                } else {
                    Err(text)
                };
            }
            untagged.push(Untagged { text, literals });
        }
    }

    /// Reads one response line, following `{n}` literals: the line goes on
    /// after each literal's n bytes.
    fn read_response(&mut self) -> (String, Vec<Vec<u8>>) {
        let mut text = String::new();
        let mut literals = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .unwrap_or_else(|e| panic!("IMAP read: {e}; so far: {text}"));
            assert!(n > 0, "IMAP connection closed; so far: {text}");
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            text.push_str(line);
            match literal_len(line) {
                Some(len) => {
                    let mut literal = vec![0; len];
                    self.reader
                        .read_exact(&mut literal)
                        .unwrap_or_else(|e| panic!("IMAP read literal: {e}; so far: {text}"));
                    literals.push(literal);
                }
                None => return (text, literals),
            }
        }
    }
}

/// The last "* n EXISTS" count among `responses`.
fn exists(responses: &[Untagged]) -> Option<usize> {
    responses.iter().rev().find_map(|r| {
        let rest = r.text.strip_prefix("* ")?;
        let (n, word) = rest.split_once(' ')?;
        (word == "EXISTS").then(|| n.parse().ok())?
    })
}

/// The length of the literal announced at the end of `line` ("... {123}").
fn literal_len(line: &str) -> Option<usize> {
    let inner = line.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}

/// The UID in a FETCH response's text ("* 3 FETCH (UID 7 BODY[] {12})").
fn fetch_uid(text: &str) -> Option<u32> {
    let start = text.find("UID ")? + 4;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// An IMAP quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::{fetch_uid, literal_len, quote};

    #[test]
    fn parsing_helpers() {
        assert_eq!(literal_len("* 1 FETCH (UID 4 BODY[] {614}"), Some(614));
        assert_eq!(literal_len("* OK [READ-WRITE] Select completed."), None);
        assert_eq!(fetch_uid("* 1 FETCH (UID 42 BODY[] {3})"), Some(42));
        assert_eq!(fetch_uid("* 1 FETCH (BODY[] {3} UID 9)"), Some(9));
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
