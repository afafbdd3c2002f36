//! HTML-only mail turned into plain text, so commands and messages in it can be read
//! line by line.
//!
//! Invariant: pure, linear in the input, never panics; unknown markup is dropped, never
//! interpreted. Which elements hold quoted matter is data (`layouts::HTML_QUOTES`).

use crate::mail::layouts::{HTML_QUOTES, HtmlQuote};

/// Quote containers tracked one by one; deeper nesting quotes the rest of the mail.
const MAX_OPEN_QUOTES: usize = 1000;

/// Crude but safe HTML to text: drops `<script>`, `<style>`, `<head>` and comments,
/// turns `<br>` and the end of blocks into newlines, quoted matter (`<blockquote>` and
/// the clients' quote containers of [`HTML_QUOTES`]) into `> ` lines, strips the other
/// tags and decodes common entities. Linear, never panics.
pub fn html_to_text(html: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let mut sink = TextSink::default();
    let mut pos = 0;
    while let Some(rest) = html.get(pos..) {
        let Some(c) = rest.chars().next() else {
            break;
        };
        pos = match c {
            '<' => handle_tag(html, &lower, pos, &mut sink),
            '&' => {
                let (decoded, used) = decode_entity(rest);
                // A line break written as a reference (`&#10;`, `&#13;`, `&#x2028;`) is
                // white space like one written as itself: pushed as text, it cut a
                // quoted line in two, its second half unquoted (and sent by `#reply`).
                if decoded.is_whitespace() && decoded != ' ' {
                    sink.text_char(if decoded.is_ascii() { decoded } else { ' ' });
                } else {
                    sink.visible(decoded);
                }
                pos + used
            }
            _ => {
                sink.text_char(c);
                pos + c.len_utf8()
            }
        };
    }
    sink.finish()
}

/// Handles the tag starting at `pos` (a `<`) and returns the position after it.
fn handle_tag(html: &str, lower: &str, pos: usize, sink: &mut TextSink) -> usize {
    let rest = lower.get(pos..).unwrap_or("");
    let after_lt = rest.get(1..).unwrap_or("");
    if after_lt.starts_with("!--") {
        return find_from(lower, pos + 4, "-->").map_or(html.len(), |i| i + 3);
    }
    if after_lt.starts_with('!') || after_lt.starts_with('?') {
        return find_from(lower, pos, ">").map_or(html.len(), |i| i + 1);
    }
    let closing = after_lt.starts_with('/');
    let name_start = if closing { 2 } else { 1 };
    let name: String = rest
        .get(name_start..)
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    if name.is_empty() {
        // `a < b` in sloppy HTML: the `<` is text.
        sink.text_char('<');
        return pos + 1;
    }
    let end = tag_end(lower, pos + name_start + name.len());
    match (name.as_str(), closing) {
        ("script" | "style" | "head" | "title" | "template", false) => {
            return find_from(lower, end, &format!("</{name}"))
                .and_then(|i| find_from(lower, i, ">"))
                .map_or(html.len(), |i| i + 1);
        }
        ("br", _) => sink.newline(),
        ("div" | "blockquote", false) => {
            sink.block_break();
            let tag = lower.get(pos..end).unwrap_or("");
            sink.open_container(quote_marker(&name, tag));
        }
        ("div" | "blockquote", true) => {
            if name == "div" {
                sink.newline();
            } else {
                sink.block_break();
            }
            sink.close_container();
        }
        ("pre", false) => {
            sink.block_break();
            sink.pre_depth += 1;
        }
        ("pre", true) => {
            sink.pre_depth = sink.pre_depth.saturating_sub(1);
            sink.block_break();
        }
        ("p" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6", true) => {
            sink.newline();
        }
        (
            "p" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol" | "table"
            | "hr",
            _,
        ) => sink.block_break(),
        ("td" | "th", true) => sink.pending_space = !sink.at_line_start,
        ("a", false) => {
            let at = sink.out.len();
            sink.link = link_target(html.get(pos..end).unwrap_or("")).map(|href| (href, at));
        }
        ("a", true) => sink.end_link(),
        _ => {}
    }
    end
}

/// The longest link target kept in the text.
const MAX_LINK: usize = 2048;

/// The `href` of the start tag `tag` (`<a …>`, as written), when it is a web or mail
/// address worth showing: `http`, `https` or `mailto`, printable, not too long.
fn link_target(tag: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    let value_at = loop {
        let i = from + lower.get(from..)?.find("href")?;
        from = i + 4;
        let before = lower.get(..i)?.chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let rest = lower.get(from..)?.trim_start();
        if let Some(value) = rest.strip_prefix('=') {
            break lower.len() - value.trim_start().len();
        }
    };
    let value = tag.get(value_at..)?;
    let raw = match value.chars().next()? {
        q @ ('"' | '\'') => value.get(1..)?.split(q).next()?,
        _ => value
            .split(|c: char| c.is_ascii_whitespace() || c == '>')
            .next()?,
    };
    let href = raw.trim().replace("&amp;", "&");
    let scheme = href.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    let wanted = matches!(scheme.as_deref(), Some("http" | "https" | "mailto"));
    let printable = href.chars().all(|c| c.is_ascii_graphic());
    (wanted && printable && href.len() <= MAX_LINK).then_some(href)
}

/// What the start tag `tag` (lower-cased, `<` to `>`) of element `name` means for quotes.
fn quote_marker(name: &str, tag: &str) -> Option<HtmlQuote> {
    HTML_QUOTES
        .iter()
        .find(|m| m.tag == name && tag.contains(m.needle))
        .map(|m| m.kind)
}

fn find_from(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    haystack.get(from..)?.find(needle).map(|i| i + from)
}

/// The position after the `>` closing a tag, skipping quoted attribute values.
fn tag_end(lower: &str, from: usize) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in lower.get(from..).unwrap_or("").char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            (None, '>') => return from + i + 1,
            _ => {}
        }
    }
    lower.len()
}

/// Decodes the entity at the start of `rest` (which starts with `&`); an unknown or
/// unterminated one is a literal `&`.
fn decode_entity(rest: &str) -> (char, usize) {
    let literal = ('&', 1);
    let Some(semi) = rest
        .char_indices()
        .take(12)
        .find(|&(_, c)| c == ';')
        .map(|(i, _)| i)
    else {
        return literal;
    };
    let name = rest.get(1..semi).unwrap_or("");
    let used = semi + 1;
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "copy" => '©',
        _ => {
            let number = name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse::<u32>));
            match number {
                // U+00A0 is a space for every purpose downstream.
                Some(Ok(0xa0)) => ' ',
                Some(Ok(n)) => char::from_u32(n)
                    .filter(|&c| c != '\0')
                    .unwrap_or('\u{fffd}'),
                _ => return literal,
            }
        }
    };
    (c, used)
}

/// Builds the text line by line, so that blockquote prefixes and white-space collapsing
/// are decided once per visible character.
#[derive(Default)]
struct TextSink {
    out: String,
    at_line_start: bool,
    started: bool,
    pending_space: bool,
    quote_depth: usize,
    pre_depth: usize,
    /// Open `div`/`blockquote` elements.
    containers: usize,
    /// The `containers` depth at which each open quote container was opened.
    quotes: Vec<usize>,
    /// An Outlook-style reply header was seen: everything after it is quoted.
    rest_quoted: bool,
    /// The target of the open `<a>`, and where its text began in `out`.
    link: Option<(String, usize)>,
}

impl TextSink {
    /// A character of the HTML source: white space collapses outside `<pre>`.
    fn text_char(&mut self, c: char) {
        if self.pre_depth > 0 {
            match c {
                '\n' => self.newline(),
                '\r' => {}
                _ => self.visible(c),
            }
        } else if c.is_ascii_whitespace() {
            self.pending_space = self.started && !self.at_line_start;
        } else {
            self.visible(c);
        }
    }

    fn visible(&mut self, c: char) {
        if !self.started || self.at_line_start {
            // Deeply nested quotes are still quotes; cap the prefix so output stays linear.
            let depth = self.quote_depth + usize::from(self.rest_quoted);
            for _ in 0..depth.min(8) {
                self.out.push_str("> ");
            }
        } else if self.pending_space {
            self.out.push(' ');
        }
        self.started = true;
        self.at_line_start = false;
        self.pending_space = false;
        self.out.push(c);
    }

    fn open_container(&mut self, quote: Option<HtmlQuote>) {
        self.containers += 1;
        match quote {
            Some(HtmlQuote::Contents) if self.quotes.len() < MAX_OPEN_QUOTES => {
                self.quotes.push(self.containers);
                self.quote_depth += 1;
            }
            Some(_) => self.rest_quoted = true,
            None => {}
        }
    }

    fn close_container(&mut self) {
        if self.quotes.last() == Some(&self.containers) {
            self.quotes.pop();
            self.quote_depth = self.quote_depth.saturating_sub(1);
        }
        self.containers = self.containers.saturating_sub(1);
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.started = true;
        self.at_line_start = true;
        self.pending_space = false;
    }

    fn block_break(&mut self) {
        if self.started && !self.at_line_start {
            self.newline();
        }
    }

    /// At `</a>`: the target is written after the link's text, unless the text shows it.
    fn end_link(&mut self) {
        let Some((href, at)) = self.link.take() else {
            return;
        };
        let shown = href.strip_prefix("mailto:").unwrap_or(&href);
        if self.out.get(at..).is_some_and(|text| text.contains(shown)) {
            return;
        }
        self.pending_space = self.started && !self.at_line_start;
        for c in std::iter::once('<')
            .chain(href.chars())
            .chain(std::iter::once('>'))
        {
            self.visible(c);
        }
    }

    fn finish(self) -> String {
        crate::text::squeeze_blank_lines(self.out.split('\n'))
            .join("\n")
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_cases() {
        let table: &[(&str, &str)] = &[
            ("a<br>b<br/>c<BR />d", "a\nb\nc\nd"),
            ("<p>one</p><p>two</p>", "one\ntwo"),
            ("<ul><li>x</li><li>y</li></ul>", "x\ny"),
            (
                "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; f&nbsp;g",
                "a & b <c> \"d\" 'e' f g",
            ),
            ("&#233;&#xE9;&#X1F600;", "éé😀"),
            (
                "&#0;&#xD800;&#99999999999;",
                "\u{fffd}\u{fffd}&#99999999999;",
            ),
            ("&bogus; & &amp", "&bogus; & &amp"),
            (
                "<blockquote>a&#10;b&#13; c&#x2028;d&#133;e</blockquote>",
                "> a b c d e",
            ),
            ("<pre>x&#10;y</pre>", "x\ny"),
            ("<script>alert('#close')</script>ok", "ok"),
            ("<STYLE>p { color: red }</STYLE>ok", "ok"),
            ("<style>never closed", ""),
            ("x<!-- #close -->y", "xy"),
            ("<!DOCTYPE html><html><body>t</body></html>", "t"),
            ("a < b and c > d", "a < b and c > d"),
            ("<a href=\"x>y\">link</a>", "link"),
            // A link's target is kept when its text does not show it: a `#reply` of
            // "the fix is here" reached the reporter without the fix's address.
            (
                "<div>The fix is <a href=\"https://github.com/o/r/commit/ABC?a=1&amp;b=2\">here</a>.</div>",
                "The fix is here <https://github.com/o/r/commit/ABC?a=1&b=2>.",
            ),
            (
                "<a HREF='https://x.test/p'>https://x.test/p</a> <a href=mailto:s@x.test>s@x.test</a>",
                "https://x.test/p s@x.test",
            ),
            ("<a href=\"javascript:x()\">go</a>", "go"),
            ("<div>unterminated <b", "unterminated"),
            ("  lots   of\n\n  space  ", "lots of space"),
            (
                "top<blockquote>one<br>two<blockquote>deep</blockquote>back</blockquote>end",
                "top\n> one\n> two\n> > deep\n> back\nend",
            ),
            ("<pre>  keep\n    this</pre>after", "keep\n    this\nafter"),
            // Quote containers of the layout table: their contents are quoted.
            (
                "a<div class=\"gmail_quote\"><div>q</div></div><div>b</div>",
                "a\n> q\n\nb",
            ),
            (
                "a<div style=\"border-left:1px solid\">q</div>b",
                "a\n> q\nb",
            ),
            (
                "a<div class=\"x yahoo_quoted\">q</div></div></div>b",
                "a\n> q\n\nb",
            ),
            // Outlook's reply header: everything from it on is quoted.
            (
                "a<div id=\"divRplyFwdMsg\">h</div><div>q</div></body>",
                "a\n> h\n> q",
            ),
            ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
            ("", ""),
        ];
        for (html, want) in table {
            assert_eq!(html_to_text(html), *want, "{html:?}");
        }
    }
}
