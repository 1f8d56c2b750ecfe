//! The text of an email as a moderation call would see it: subject, body (HTML turned to
//! text) and the targets of its links. Headers, dates and transport details are dropped:
//! the ham and phishing corpora come from different decades, and those fields would teach
//! the model the calendar instead of the content. Dates inside bodies too: quoted replies
//! and forwarded headers ("On Thu, 22 Aug 2002 …", "Sent: 2016-05-03") carry years, half
//! of Nazario's messages name one of 2014–2022 and the ham names 2002, so
//! [`without_dates`] drops header-like lines and year numbers from every email text.

use mail_parser::MessageParser;

/// At most this much body text is kept per message (long digests add nothing but time).
const MAX_BODY_CHARS: usize = 16 * 1024;

/// Subject, body and link targets of a raw RFC 5322 message (empty when unparseable).
pub fn text_of(raw: &[u8]) -> String {
    let Some(message) = MessageParser::default().parse(raw) else {
        return String::new();
    };
    let mut text = String::new();
    if let Some(subject) = message.subject() {
        text.push_str(subject);
        text.push('\n');
    }
    if let Some(body) = message.body_text(0) {
        text.extend(body.chars().take(MAX_BODY_CHARS));
    }
    // Link targets hidden behind HTML anchors (`body_text` keeps only the anchor text).
    if let Some(html) = message.body_html(0) {
        let mut links = Vec::new();
        let mut rest = html.as_ref();
        while let Some(at) = rest.find("href=") {
            rest = rest.get(at + 5..).unwrap_or_default();
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
            let body = quote.map_or(rest, |q| rest.get(q.len_utf8()..).unwrap_or_default());
            let end = body
                .find(|c: char| Some(c) == quote || c.is_whitespace() || c == '>')
                .unwrap_or(body.len());
            let link = body.get(..end).unwrap_or_default();
            if link.starts_with("http") && !links.contains(&link) && links.len() < 32 {
                links.push(link);
            }
            rest = body;
        }
        for link in links {
            text.push('\n');
            text.push_str(link);
        }
    }
    without_dates(&text)
}

/// Header-like lines a body may quote (forwards, replies, digests): dropped whole.
const HEADER_LINES: [&str; 8] = [
    "date:",
    "sent:",
    "received:",
    "return-path:",
    "message-id:",
    "delivered-to:",
    "x-",
    "mime-version:",
];

/// `text` without quoted header lines and without years: a line starting (after `>`
/// quoting) with a header name of [`HEADER_LINES`] is dropped, and every number of four
/// digits from 1980 to 2039 that stands alone (not part of a longer number, a word or a
/// link) is removed.
pub fn without_dates(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let bare = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
        let header = HEADER_LINES.iter().any(|h| {
            bare.get(..h.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(h))
        });
        if !header {
            push_without_years(line, &mut out);
        }
    }
    out
}

fn push_without_years(line: &str, out: &mut String) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let Some(&b) = bytes.get(i) else { break };
        if !b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        // A year stands alone: no letter, digit, `/`-path or link character glued to it
        // on the left, and no letter or digit on the right.
        let before = start.checked_sub(1).and_then(|k| bytes.get(k)).copied();
        let after = bytes.get(i).copied();
        let glued_left =
            before.is_some_and(|c| c.is_ascii_alphanumeric() || b"/_=&?%.".contains(&c));
        let glued_right = after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
        let year = line
            .get(start..i)
            .and_then(|d| d.parse::<u16>().ok())
            .is_some_and(|y| i - start == 4 && (1980..=2039).contains(&y));
        if year && !glued_left && !glued_right {
            out.push_str(line.get(copied..start).unwrap_or_default());
            copied = i;
        }
    }
    out.push_str(line.get(copied..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_subject_body_and_links_but_no_headers() {
        let raw = b"From: someone@example.org\r\nDate: Thu, 22 Aug 2002 12:36:23 +0100\r\n\
Subject: Your parcel is waiting\r\nContent-Type: text/html\r\n\r\n\
<p>Pay the fee <a href=\"http://parcel.example/pay\">here</a> today.</p>";
        let text = text_of(raw);
        assert!(text.starts_with("Your parcel is waiting\n"), "{text}");
        assert!(text.contains("Pay the fee"));
        assert!(text.contains("http://parcel.example/pay"));
        assert!(!text.contains("2002"));
        assert!(!text.contains("someone@example.org"));
    }

    #[test]
    fn years_and_quoted_headers_are_dropped() {
        let text = "Re: invoice 2016\n> Sent: Tuesday, May 3, 2016 10:14 AM\n\
On Thu, 22 Aug 2002 12:36:23 +0100 Bob wrote:\nsee http://x.example/2019/a.html, \
order 20161 or 1234; (c) 1999-2002 Example\n";
        let out = without_dates(text);
        assert!(!out.contains("Sent:"), "{out}");
        assert!(!out.contains("2016\n") && !out.contains(" 2002 "), "{out}");
        assert!(out.contains("http://x.example/2019/a.html"), "{out}");
        assert!(out.contains("20161") && out.contains("1234"), "{out}");
        assert!(!out.contains("1999") && !out.contains("-2002"), "{out}");
        assert_eq!(without_dates("no dates here\n"), "no dates here\n");
        assert_eq!(without_dates("été 2002 ok"), "été  ok");
    }

    #[test]
    fn garbage_does_not_panic() {
        let _ = text_of(b"");
        let _ = text_of(&[0xff; 100]);
    }
}
