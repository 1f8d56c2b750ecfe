//! A reorder buffer: items arrive roughly in event-time order and leave in exact order,
//! as long as none is later than the lateness bound.
//!
//! An item is released once the latest time seen is at least `lateness` past it (or the
//! buffer holds more than its cap, which releases the oldest). Ties keep arrival order,
//! so the output is a pure function of the input. An item older than something already
//! released cannot be put back in order: it is released next, as is, and counted in
//! [`Reorder::late`].

use std::{cmp::Ordering, collections::BinaryHeap};

#[derive(Debug)]
struct Entry<T> {
    time: i64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed, so that the max-heap pops the earliest item first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// Puts items with event times back in order within a lateness bound.
#[derive(Debug)]
pub struct Reorder<T> {
    heap: BinaryHeap<Entry<T>>,
    lateness: i64,
    cap: usize,
    seq: u64,
    latest: i64,
    released: Option<i64>,
    late: u64,
}

impl<T> Reorder<T> {
    /// A buffer that waits `lateness` (in the unit of the times given) and holds at most
    /// `cap` items.
    pub fn new(lateness: i64, cap: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            lateness: lateness.max(0),
            cap: cap.max(1),
            seq: 0,
            latest: i64::MIN,
            released: None,
            late: 0,
        }
    }

    /// Adds an item that happened at `time`.
    pub fn push(&mut self, time: i64, item: T) {
        if self.released.is_some_and(|r| time < r) {
            self.late += 1;
        }
        self.latest = self.latest.max(time);
        self.heap.push(Entry {
            time,
            seq: self.seq,
            item,
        });
        self.seq += 1;
    }

    /// The next item that can no longer be overtaken, if any.
    pub fn pop(&mut self) -> Option<T> {
        let ready = self.heap.peek().is_some_and(|top| {
            top.time <= self.latest.saturating_sub(self.lateness) || self.heap.len() > self.cap
        });
        if ready { self.take() } else { None }
    }

    /// The next item whatever the bound (at the end of the input).
    pub fn drain(&mut self) -> Option<T> {
        self.take()
    }

    fn take(&mut self) -> Option<T> {
        let entry = self.heap.pop()?;
        self.released = Some(self.released.map_or(entry.time, |r| r.max(entry.time)));
        Some(entry.item)
    }

    /// Items that arrived after something later than them had been released.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lateness: i64, cap: usize, input: &[(i64, &'static str)]) -> (Vec<&'static str>, u64) {
        let mut r = Reorder::new(lateness, cap);
        let mut out = Vec::new();
        for (t, x) in input {
            r.push(*t, *x);
            while let Some(x) = r.pop() {
                out.push(x);
            }
        }
        while let Some(x) = r.drain() {
            out.push(x);
        }
        (out, r.late())
    }

    #[test]
    fn items_within_the_bound_come_out_in_order_ties_by_arrival() {
        let (out, late) = run(
            10,
            100,
            &[(5, "b"), (1, "a"), (5, "c"), (12, "d"), (8, "e"), (30, "f")],
        );
        assert_eq!(out, ["a", "b", "c", "e", "d", "f"]);
        assert_eq!(late, 0);
    }

    #[test]
    fn items_later_than_the_bound_are_counted_and_still_delivered() {
        let (out, late) = run(2, 100, &[(10, "a"), (20, "b"), (5, "late"), (30, "c")]);
        assert_eq!(out, ["a", "late", "b", "c"]);
        assert_eq!(late, 1);
    }

    #[test]
    fn the_cap_releases_the_oldest() {
        let (out, _) = run(1_000, 2, &[(3, "c"), (1, "a"), (2, "b"), (4, "d")]);
        assert_eq!(out, ["a", "b", "c", "d"]);
        let mut r = Reorder::new(1_000, 2);
        for t in 0..10 {
            r.push(t, t);
            while r.pop().is_some() {}
            assert!(r.len() <= 2);
        }
    }
}
