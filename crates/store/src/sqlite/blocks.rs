//! `api.request` events in blocks: one row of `request_blocks` holds the events of one
//! appended batch that were stamped in the same second, sorted by `(ts, id)`.
//!
//! Why blocks: a row per request cost the writer about 4 µs of CPU per event whatever its
//! indexes (measured with `examples/append.rs`: SQLite's work per row, the WAL frames of
//! every page a batch dirties and the checkpoint's copy of them), the largest single item
//! of the gateway's cost per request after its own HTTP work; and an index ordered by key
//! cost a page per active key per batch. A block is one row for a few hundred events, so
//! the per-row work is paid once per block and the bytes written are about the events'
//! own.
//!
//! Why one second per block: requests end (and are appended) out of the order they started
//! in (`ts` is when a request arrived; a stream can last minutes), so a batch's events
//! span as many seconds as its longest request took. Cutting each batch at second
//! boundaries keeps every block inside one second, and a page in `(ts, id)` order reads the
//! blocks of one second after another (`events.rs`), never a block written minutes later
//! for a few late events from every block in between.
//!
//! Layout (format 1): the format byte; the envelopes (tenant, account, key), each distinct
//! triple once: their count, then per triple three optional strings; the event count; the
//! first event's `ts_ms` as a zigzag varint; per event, in `(ts, id)` order: `ts_ms` minus
//! the first's, the id, the index of its envelope, its compact body (`compact.rs`) with its
//! length before it. Integers and strings are written as `compact.rs` writes them.

use std::collections::HashMap;

use super::compact::{CompactError, Reader, Writer};

/// The layout [`encode`] writes; [`decode`] reads this one only.
const FORMAT: u8 = 1;

/// Distinct envelopes a block's encoder looks up by scanning them.
const SCANNED_TRIPLES: usize = 8;

/// The width of a block's bucket of time, in milliseconds.
const SECOND_MS: i64 = 1_000;

/// The bucket (`request_blocks.second`) of an event stamped `ts_ms`.
pub(super) fn second_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(SECOND_MS)
}

/// One event as a block holds it: its envelope and its compact body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    pub ts_ms: i64,
    pub id: &'a str,
    pub envelope: Triple<'a>,
    pub body: &'a [u8],
}

/// The tenant, account and key of an event, as they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Triple<'a> {
    pub tenant: Option<&'a str>,
    pub account: Option<&'a str>,
    pub key: Option<&'a str>,
}

impl Entry<'_> {
    /// The order of events in a block and in a page.
    pub(super) fn sort_key(&self) -> (i64, &str) {
        (self.ts_ms, self.id)
    }
}

/// Appends the block of `entries` to `out`. `entries` are in `(ts, id)` order, all of one
/// second (the caller groups them); an empty slice writes an empty block.
pub(super) fn encode(entries: &[Entry<'_>], out: &mut Vec<u8>) {
    // A block's events mostly share a few keys: a scan of the distinct triples finds
    // them; past a few, a map does.
    let mut triples: Vec<Triple<'_>> = Vec::new();
    let mut index: Option<HashMap<Triple<'_>, usize>> = None;
    let slots: Vec<usize> = entries
        .iter()
        .map(|entry| {
            let known = match &index {
                Some(index) => index.get(&entry.envelope).copied(),
                None => triples.iter().position(|triple| *triple == entry.envelope),
            };
            known.unwrap_or_else(|| {
                let slot = triples.len();
                triples.push(entry.envelope);
                match &mut index {
                    Some(index) => {
                        index.insert(entry.envelope, slot);
                    }
                    None if triples.len() > SCANNED_TRIPLES => {
                        index = Some(triples.iter().copied().zip(0..).collect());
                    }
                    None => {}
                }
                slot
            })
        })
        .collect();
    let mut w = Writer(out);
    w.byte(FORMAT);
    w.varint(triples.len() as u64);
    for triple in &triples {
        w.opt_str(triple.tenant);
        w.opt_str(triple.account);
        w.opt_str(triple.key);
    }
    w.varint(entries.len() as u64);
    let base = entries.first().map_or(0, |entry| entry.ts_ms);
    w.varint(zigzag(base));
    for (entry, slot) in entries.iter().zip(slots) {
        // Sorted, so never negative.
        w.varint(entry.ts_ms.wrapping_sub(base).unsigned_abs());
        w.str(entry.id);
        w.varint(slot as u64);
        w.varint(entry.body.len() as u64);
        w.0.extend_from_slice(entry.body);
    }
}

/// The events of a block, in `(ts, id)` order.
pub(super) fn decode(block: &[u8]) -> Result<Vec<Entry<'_>>, CompactError> {
    let mut r = Reader(block);
    if r.byte()? != FORMAT {
        return Err(CompactError(
            "unknown block format (written by a newer build?)",
        ));
    }
    // Every triple and every event takes at least three bytes, so a count above the bytes
    // left is damage (and must not size an allocation).
    let triples = r.len()?;
    let mut envelopes = Vec::with_capacity(triples);
    for _ in 0..triples {
        envelopes.push(Triple {
            tenant: opt_str(&mut r)?,
            account: opt_str(&mut r)?,
            key: opt_str(&mut r)?,
        });
    }
    let count = r.len()?;
    let base = unzigzag(r.varint()?);
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(count);
    for _ in 0..count {
        let delta =
            i64::try_from(r.varint()?).map_err(|_| CompactError("an event time out of range"))?;
        let ts_ms = base
            .checked_add(delta)
            .ok_or(CompactError("an event time out of range"))?;
        let id = str(&mut r)?;
        let slot = usize::try_from(r.varint()?).unwrap_or(usize::MAX);
        let envelope = *envelopes
            .get(slot)
            .ok_or(CompactError("an envelope index out of range"))?;
        let len = r.len()?;
        let body = r.take(len)?;
        let entry = Entry {
            ts_ms,
            id,
            envelope,
            body,
        };
        if entries
            .last()
            .is_some_and(|last| last.sort_key() >= entry.sort_key())
        {
            return Err(CompactError("events out of order"));
        }
        entries.push(entry);
    }
    if !r.0.is_empty() {
        return Err(CompactError("bytes after the end of the block"));
    }
    Ok(entries)
}

fn str<'a>(r: &mut Reader<'a>) -> Result<&'a str, CompactError> {
    let len = r.len()?;
    std::str::from_utf8(r.take(len)?).map_err(|_| CompactError("text that is not UTF-8"))
}

fn opt_str<'a>(r: &mut Reader<'a>) -> Result<Option<&'a str>, CompactError> {
    match r.varint()? {
        0 => Ok(None),
        n => {
            let len = usize::try_from(n - 1).map_err(|_| CompactError("truncated block"))?;
            std::str::from_utf8(r.take(len)?)
                .map(Some)
                .map_err(|_| CompactError("text that is not UTF-8"))
        }
    }
}

fn zigzag(value: i64) -> u64 {
    // Bit reinterpretations, as the format defines them.
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(ts_ms: i64, id: &'a str, key: Option<&'a str>, body: &'a [u8]) -> Entry<'a> {
        Entry {
            ts_ms,
            id,
            envelope: Triple {
                tenant: Some("ten_1"),
                account: Some("acct_1"),
                key,
            },
            body,
        }
    }

    #[test]
    fn blocks_round_trip() {
        let entries = [
            entry(-1_500, "evt_a", Some("key_1"), b"one"),
            entry(-1_500, "evt_b", None, b""),
            entry(-1_001, "evt_a", Some("key_1"), b"three"),
        ];
        let mut out = Vec::new();
        encode(&entries, &mut out);
        assert_eq!(decode(&out).unwrap(), entries);
        let mut empty = Vec::new();
        encode(&[], &mut empty);
        assert_eq!(decode(&empty).unwrap(), []);
    }

    #[test]
    fn zigzag_round_trips_the_extremes() {
        for value in [0, 1, -1, i64::MAX, i64::MIN, 1_764_000_000_000] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(second_of(-1), -1);
        assert_eq!(second_of(999), 0);
        assert_eq!(second_of(1_000), 1);
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let entries = [
            entry(5, "evt_a", Some("key_1"), b"one"),
            entry(7, "evt_b", Some("key_2"), b"two"),
        ];
        let mut out = Vec::new();
        encode(&entries, &mut out);
        for len in 0..out.len() {
            assert!(decode(out.get(..len).unwrap()).is_err(), "cut at {len}");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut unordered = Vec::new();
        let same_time = [
            entry(5, "evt_b", None, b"one"),
            entry(5, "evt_a", None, b"two"),
        ];
        encode(&same_time, &mut unordered);
        assert!(decode(&unordered).is_err());
        for byte in 0..out.len() {
            let mut flipped = out.clone();
            flipped[byte] ^= 0xff;
            let _ = decode(&flipped);
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn any_sorted_events_round_trip(
                events in proptest::collection::vec(
                    (0_i64..2_000, "[a-z0-9]{1,6}", 0_usize..20, proptest::collection::vec(any::<u8>(), 0..40)),
                    0..60,
                ),
                base in any::<i64>().prop_map(|ms| ms / 4),
            ) {
                let keys: Vec<String> = (0..20).map(|n| format!("key_{n}")).collect();
                let mut entries: Vec<Entry<'_>> = events
                    .iter()
                    .map(|(offset, id, key, body)| Entry {
                        ts_ms: base + offset,
                        id,
                        envelope: Triple {
                            tenant: (key % 3 != 0).then_some("ten_a"),
                            account: Some("acct_a"),
                            key: keys.get(*key).map(String::as_str).filter(|_| key % 5 != 0),
                        },
                        body,
                    })
                    .collect();
                entries.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                entries.dedup_by(|a, b| a.sort_key() == b.sort_key());
                let mut out = Vec::new();
                encode(&entries, &mut out);
                prop_assert_eq!(decode(&out).unwrap(), entries);
            }

            #[test]
            fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let mut block = vec![FORMAT];
                block.extend(bytes);
                let _ = decode(&block);
            }
        }
    }
}
