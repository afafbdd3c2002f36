//! URLs as the OSV schema wants them: RFC 3986 URIs, percent-encoded where a browser
//! would encode them.

/// A URL as the OSV schema wants it (an RFC 3986 URI): what a browser's address bar
/// shows (`…/Faille_de_sécurité`, `a|b`, `{1}`) is percent-encoded, as the browser does
/// when it follows the link, and a `%` that starts no escape is written `%25`. A host
/// outside ASCII is refused: its ASCII form (`xn--…`) is the one to give.
pub fn as_uri(url: &str) -> Result<String, String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_len);
    if !authority.is_ascii() {
        return Err(format!(
            "the host `{authority}` is not ASCII: give its ASCII form (xn--…)"
        ));
    }
    let mut out = format!("{scheme}://{authority}");
    let bytes = tail.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if plain(b) || escape_at(bytes, i) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// Whether `url` is written in the characters of an RFC 3986 URI (brackets only around
/// an IPv6 host), each `%` starting an escape.
pub fn is_uri(url: &str) -> bool {
    let b = url.as_bytes();
    let authority_end = url.find("://").map_or(0, |i| {
        let start = i + 3;
        let rest = url.get(start..).unwrap_or("");
        start + rest.find(['/', '?', '#']).unwrap_or(rest.len())
    });
    b.iter().enumerate().all(|(i, &c)| {
        plain(c) || (matches!(c, b'[' | b']') && i < authority_end) || escape_at(b, i)
    })
}

/// A byte a URI carries as it is: unreserved or reserved (RFC 3986 §2.2, §2.3), the
/// brackets of an IPv6 host aside.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=".contains(&b)
}

/// Whether `bytes[i]` starts a percent escape (`%` and two hexadecimal digits).
fn escape_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b'%')
        && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}
