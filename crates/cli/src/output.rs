//! What the CLI prints: JSON for scripts (`--json`), aligned text for people, and progress
//! bars for long transfers.
//!
//! Everything goes through a locked stdout handle and returns `io::Result`, so that a
//! closed pipe (`bulwark keys list | head -1`) is an error the caller can handle, not the
//! panic `println!` turns it into.

use std::{
    fmt::Display,
    io::{self, IsTerminal, Write},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Prints one line to stdout and flushes it (scripts wait for lines such as
/// `bulwark listening on …`).
pub(crate) fn line(text: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Prints a note for the person at the terminal (summaries of commands whose stdout is
/// data). A closed stderr is not worth failing over.
pub(crate) fn note(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Prints a value as one line of JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    line(serde_json::to_string(value)?)?;
    Ok(())
}

/// Prints a value as one JSON object with extra fields appended (a created key's
/// `secret`).
pub(crate) fn json_with<T: Serialize>(value: &T, extra: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut object = serde_json::to_value(value)?;
    if let Some(map) = object.as_object_mut() {
        for (name, value) in extra {
            map.insert((*name).to_owned(), (*value).into());
        }
    }
    json(&object)
}

/// Rows of text printed as left-aligned columns under a header.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending in a newline; `empty` alone when
    /// there are no rows.
    pub(crate) fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{empty}\n");
        }
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let lines = std::iter::once(&header).chain(&self.rows);
        let mut widths = vec![0; self.header.len()];
        for cells in lines.clone() {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for cells in lines {
            let mut line = String::new();
            for (i, (width, cell)) in widths.iter().zip(cells).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(
                    ' ',
                    width.saturating_sub(cell.chars().count()),
                ));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    pub(crate) fn print(&self, empty: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(self.render(empty).as_bytes())?;
        out.flush()
    }
}

/// Text for an optional cell.
pub(crate) fn or_dash(value: Option<impl Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Transfers smaller than this finish before a bar would be worth looking at.
const LARGE_BYTES: u64 = 16 * 1024 * 1024;

/// A byte-counting progress bar on stderr, drawn only when stderr is a terminal and the
/// transfer is large: from the start when the size is known to be large, otherwise once
/// that many bytes have gone by.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    terminal: bool,
    shown: bool,
}

impl Progress {
    pub(crate) fn new(total: Option<u64>, message: &'static str) -> Self {
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
                .with_style(bar_style("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                .with_style(bar_style("{spinner} {msg} {bytes} ({bytes_per_sec})")),
        };
        bar.set_message(message);
        let mut progress = Self {
            bar,
            terminal: io::stderr().is_terminal(),
            shown: false,
        };
        if total.is_some_and(|t| t >= LARGE_BYTES) {
            progress.show();
        }
        progress
    }

    /// Starts over for a second pass over the same bytes.
    pub(crate) fn restart(&self, message: &'static str) {
        self.bar.set_message(message);
        self.bar.set_position(0);
    }

    pub(crate) fn advance(&mut self, bytes: u64) {
        self.bar.inc(bytes);
        if !self.shown && self.bar.position() >= LARGE_BYTES {
            self.show();
        }
    }

    fn show(&mut self) {
        if self.terminal {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.shown = true;
    }

    /// Removes the bar, so the summary line that follows stands alone.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut table = Table::new(&["ID", "NAME", "STATUS"]);
        table.row(vec![
            "key_1".into(),
            "a much longer name".into(),
            "active".into(),
        ]);
        table.row(vec!["key_22".into(), "-".into(), "revoked".into()]);
        assert_eq!(
            table.render("no keys"),
            "ID      NAME                STATUS\n\
             key_1   a much longer name  active\n\
             key_22  -                   revoked\n"
        );
        assert_eq!(Table::new(&["ID"]).render("no keys"), "no keys\n");
    }
}
