//! The text of an email as a moderation call would see it: subject, body (HTML turned to
//! text) and the targets of its links. Headers, dates and transport details are dropped:
//! the ham and phishing corpora come from different decades, and those fields would teach
//! the model the calendar instead of the content.

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
    text
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
    fn garbage_does_not_panic() {
        let _ = text_of(b"");
        let _ = text_of(&[0xff; 100]);
    }
}
