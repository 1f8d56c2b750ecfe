//! `bulwark events export|import`: stored events as JSON lines (schema v1), one event per
//! line, in `(ts, id)` order.
//!
//! Both directions stream: export reads the store page by page, import reads its input
//! twice (once to validate every line, once to append in batches) instead of holding the
//! file in memory. Standard input cannot be read twice, so it is spooled to a temporary
//! file during the first pass.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write},
    path::Path,
};

use anyhow::{Context as _, bail};
use bulwark_config::Config;
use bulwark_core::{Event, Timestamp};
use bulwark_store::{EventQuery, PageQuery, PageRow, SqliteStore, Store, StoreError};

use crate::{
    UsageError,
    cli::ExportArgs,
    context,
    output::{self, Progress},
};

/// Events per `events_page` call when exporting: the store's largest page. A page reads
/// whole seconds of request blocks, so small pages of a busy second read it again and
/// again (the store benchmark's export: 125k events/s in pages of 1,000, 264k in pages of
/// 10,000); a page of 10,000 lines is a few MB.
const EXPORT_PAGE: usize = 10_000;
/// Events per `append_events` call (one transaction) when importing.
const IMPORT_BATCH: usize = 1000;
/// Longest accepted line. Real events are a few KiB even with captured text; this bounds
/// the memory a corrupt file without newlines can take.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

pub(crate) async fn export(config: &Config, args: &ExportArgs) -> anyhow::Result<()> {
    export_pages(
        config,
        args,
        "events",
        async |store: &SqliteStore, query: &EventQuery| store.events_page(query).await,
    )
    .await
}

/// Writes every stored record (`what`: events, alerts) in the window of `args`, page by
/// page as `fetch` reads them from the store, to stdout or to `--output`.
pub(crate) async fn export_pages<Id: Clone>(
    config: &Config,
    args: &ExportArgs,
    what: &str,
    mut fetch: impl AsyncFnMut(&SqliteStore, &PageQuery<Id>) -> Result<Vec<PageRow<Id>>, StoreError>,
) -> anyhow::Result<()> {
    let (since, until, output) = (args.since, args.until, args.output.as_deref());
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(UsageError(format!(
            "`--since` ({since}) is not before `--until` ({until})"
        ))
        .into());
    }
    let store = context::open_store(config).await?;
    let mut fetch = async |query: &PageQuery<Id>| fetch(&store, query).await;
    let (count, bytes) = match output {
        None => {
            let mut out = BufWriter::new(io::stdout());
            let counted = write_pages(what, since, until, &mut out, &mut fetch).await?;
            out.flush()?;
            counted
        }
        Some(path) => {
            let mut counted = (0, 0);
            write_atomically(path, async |out| {
                counted = write_pages(what, since, until, out, &mut fetch).await?;
                Ok(())
            })
            .await?;
            counted
        }
    };
    let target = output.map_or_else(String::new, |path| format!(" to `{}`", path.display()));
    output::note(format_args!(
        "exported {count} {what}{target} ({bytes} bytes)"
    ));
    Ok(())
}

/// Writes `path` through `write`, beside the target and renamed over it at the end: a
/// failure leaves no half-written file behind, and never clobbers an older one.
pub(crate) async fn write_atomically(
    path: &Path,
    write: impl AsyncFnOnce(&mut BufWriter<tempfile::NamedTempFile>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in `{}`", dir.display()))?;
    let mut out = BufWriter::new(temp);
    write(&mut out).await?;
    let temp = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Copies every stored record in the window to `out`, exactly as stored, one per line.
/// Returns how many records and bytes were written.
async fn write_pages<Id: Clone>(
    what: &str,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    out: &mut impl Write,
    fetch: &mut impl AsyncFnMut(&PageQuery<Id>) -> Result<Vec<PageRow<Id>>, StoreError>,
) -> anyhow::Result<(u64, u64)> {
    let mut progress = Progress::new(None, "exporting");
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut after = None;
    loop {
        let query = PageQuery {
            since,
            until,
            after,
            limit: EXPORT_PAGE,
        };
        let page = fetch(&query)
            .await
            .with_context(|| format!("cannot read {what}"))?;
        let Some(last) = page.last() else { break };
        after = Some((last.ts, last.id.clone()));
        for row in &page {
            out.write_all(row.json.as_bytes())?;
            out.write_all(b"\n")?;
            let written = row.json.len() as u64 + 1;
            bytes += written;
            progress.advance(written);
        }
        count += page.len() as u64;
    }
    progress.finish();
    Ok((count, bytes))
}

pub(crate) async fn import(config: &Config, file: &Path) -> anyhow::Result<()> {
    let (mut input, name, size) = open_input(file)?;
    let mut progress = Progress::new(size, "validating");

    // Pass 1: every line must be an event before anything is stored.
    let mut spool = match &input {
        Input::Stdin(_) => {
            Some(tempfile::tempfile().context("cannot create a temporary file for stdin")?)
        }
        Input::File(_) => None,
    };
    let mut total = 0u64;
    {
        let mut spool_writer = spool.as_mut().map(BufWriter::new);
        let mut lines = Lines::new(input.reader());
        while let Some((number, line)) = lines
            .next()
            .with_context(|| format!("cannot read {name}"))?
        {
            progress.advance(line.len() as u64 + 1);
            if let Some(writer) = spool_writer.as_mut() {
                writer.write_all(line)?;
                writer.write_all(b"\n")?;
            }
            if parse_line(line)
                .map_err(|reason| {
                    anyhow::anyhow!("{name}, line {number}: {reason}; nothing was imported")
                })?
                .is_some()
            {
                total += 1;
            }
        }
        if let Some(writer) = spool_writer {
            writer
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
        }
    }

    // Pass 2: append in batches; ids already stored are skipped by the store.
    let store = context::open_store(config).await?;
    let mut reader: Box<dyn Read> = match (spool, input) {
        (Some(mut spool), _) => {
            spool.rewind()?;
            Box::new(spool)
        }
        (None, Input::File(mut file)) => {
            file.rewind()?;
            Box::new(file)
        }
        (None, Input::Stdin(_)) => bail!("standard input was not spooled"),
    };
    progress.restart("importing");
    let mut lines = Lines::new(BufReader::new(&mut reader));
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut imported = 0u64;
    let mut seen = 0u64;
    while let Some((number, line)) = lines
        .next()
        .with_context(|| format!("cannot read {name}"))?
    {
        progress.advance(line.len() as u64 + 1);
        let event = parse_line(line).map_err(|reason| {
            anyhow::anyhow!("{name} changed while it was imported: line {number}: {reason}")
        })?;
        batch.extend(event);
        if batch.len() >= IMPORT_BATCH {
            seen += batch.len() as u64;
            imported += append(&store, &batch, imported, seen).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        seen += batch.len() as u64;
        imported += append(&store, &batch, imported, seen).await?;
    }
    progress.finish();
    if seen != total {
        bail!("{name} changed while it was imported: {total} events validated, {seen} read");
    }
    output::line(format_args!(
        "imported {imported} events ({} already present)",
        total.saturating_sub(imported)
    ))?;
    Ok(())
}

/// `bulwark events prune --before T`.
pub(crate) async fn prune(config: &Config, before: Timestamp, json: bool) -> anyhow::Result<()> {
    let store = context::open_store(config).await?;
    let mut deleted = 0;
    let pruned = bulwark_store::prune_before(&store, before, |total| deleted = total)
        .await
        .with_context(|| {
            // Each batch is its own transaction: what was deleted before the failure is gone.
            format!(
                "cannot prune the events before {before} ({deleted} deleted before the failure)"
            )
        })?;
    if json {
        output::json(&serde_json::json!({"pruned": pruned, "before": before}))
    } else {
        output::line(format_args!(
            "pruned {pruned} request events stamped before {before}"
        ))?;
        Ok(())
    }
}

async fn append(
    store: &dyn Store,
    batch: &[Event],
    imported: u64,
    seen: u64,
) -> anyhow::Result<u64> {
    let new = store.append_events(batch).await.with_context(|| {
        // Earlier batches are stored; importing the same file again completes the job.
        format!(
            "cannot store events {}..{seen} ({imported} imported before this batch; importing the file again skips them)",
            seen - batch.len() as u64 + 1
        )
    })?;
    Ok(new as u64)
}

/// One line of input: `None` for a blank line, the event otherwise.
pub(crate) fn parse_line(line: &[u8]) -> Result<Option<Event>, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 ({e})"))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    Event::from_json(text).map(Some).map_err(|e| e.to_string())
}

pub(crate) enum Input {
    File(File),
    Stdin(io::Stdin),
}

impl Input {
    pub(crate) fn reader(&mut self) -> Box<dyn BufRead + '_> {
        match self {
            Input::File(file) => Box::new(BufReader::new(file)),
            Input::Stdin(stdin) => Box::new(stdin.lock()),
        }
    }
}

/// The input, its name for messages, and its size when known.
pub(crate) fn open_input(path: &Path) -> anyhow::Result<(Input, String, Option<u64>)> {
    if path == Path::new("-") {
        return Ok((Input::Stdin(io::stdin()), "standard input".to_owned(), None));
    }
    let name = format!("`{}`", path.display());
    let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    Ok((Input::File(file), name, size))
}

/// Numbered lines without their `\n` / `\r\n`, each at most [`MAX_LINE_BYTES`].
pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            number: 0,
        }
    }

    pub(crate) fn next(&mut self) -> anyhow::Result<Option<(usize, &[u8])>> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut line = self.buf.as_slice();
        match line.strip_suffix(b"\n") {
            Some(rest) => line = rest,
            None if self.buf.len() > MAX_LINE_BYTES => {
                bail!("line {} is longer than {MAX_LINE_BYTES} bytes", self.number)
            }
            None => {}
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_stripped() {
        let mut lines = Lines::new(&b"a\r\n\nb"[..]);
        assert_eq!(lines.next().unwrap(), Some((1, &b"a"[..])));
        assert_eq!(lines.next().unwrap(), Some((2, &b""[..])));
        assert_eq!(lines.next().unwrap(), Some((3, &b"b"[..])));
        assert_eq!(lines.next().unwrap(), None);
    }

    #[test]
    fn overlong_lines_are_refused() {
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut lines = Lines::new(&long[..]);
        let err = lines.next().unwrap_err().to_string();
        assert!(err.contains("line 1 is longer"), "{err}");
    }

    #[test]
    fn blank_lines_are_skipped_and_bad_ones_explained() {
        assert!(parse_line(b"   ").unwrap().is_none());
        let err = parse_line(b"{\"v\":1}").unwrap_err();
        assert!(err.contains("not a valid event"), "{err}");
        assert!(parse_line(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
