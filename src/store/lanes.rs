//! The two lanes of a route queue, one per message class, so that a dispatcher can drain
//! transactional messages first however many marketing ones wait.
//!
//! A queue entry's position is its seq with the lane in the top bit: marketing positions sort
//! after every transactional one under the route's key prefix, so each lane is one key range
//! and needs no key format of its own. Seqs come from one counter that never gets near that bit.
//! Entries written before lanes existed are all in the transactional range and drain there.

use crate::message::Class;

/// Set in the position of every marketing entry.
const MARKETING: u64 = 1 << 63;

/// The position of seq `seq` in `class`'s lane.
pub(super) fn position(class: Class, seq: u64) -> u64 {
    match class {
        Class::Transactional => seq,
        Class::Marketing => seq | MARKETING,
    }
}

/// The lane of a position.
pub fn lane_of(position: u64) -> Class {
    if position & MARKETING == 0 {
        Class::Transactional
    } else {
        Class::Marketing
    }
}

/// The seq of a position, without its lane.
pub(super) fn seq_of(position: u64) -> u64 {
    position & !MARKETING
}

/// The first and last position of a lane.
pub(super) fn bounds(class: Class) -> (u64, u64) {
    match class {
        Class::Transactional => (0, MARKETING - 1),
        Class::Marketing => (MARKETING, u64::MAX),
    }
}

fn index(class: Class) -> usize {
    match class {
        Class::Transactional => 0,
        Class::Marketing => 1,
    }
}

/// One route queue's entries per lane, and the last position each lane was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Lanes {
    depth: [usize; 2],
    tail: [u64; 2],
}

impl Lanes {
    /// Entries in both lanes.
    pub(super) fn depth(&self) -> usize {
        self.depth[0] + self.depth[1]
    }

    pub(super) fn lane_depth(&self, class: Class) -> usize {
        self.depth[index(class)]
    }

    /// The last position given in `class`'s lane (0 = none since the store opened, or before).
    pub(super) fn tail(&self, class: Class) -> u64 {
        self.tail[index(class)]
    }

    /// An entry found at `position` when the store opened.
    pub(super) fn found(&mut self, position: u64) {
        let lane = index(lane_of(position));
        self.depth[lane] += 1;
        self.tail[lane] = self.tail[lane].max(position);
    }

    /// A committed batch's changes to this queue.
    pub(super) fn apply(&mut self, change: &LaneChange) {
        for lane in 0..2 {
            let delta = isize::try_from(change.delta[lane]).unwrap_or(isize::MAX);
            self.depth[lane] = self.depth[lane].saturating_add_signed(delta);
            self.tail[lane] = self.tail[lane].max(change.tail[lane]);
        }
    }
}

/// What a batch did to one route queue: entries added less removed, and the last position
/// added, per lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LaneChange {
    delta: [i64; 2],
    tail: [u64; 2],
}

impl LaneChange {
    pub(super) fn added(&mut self, position: u64) {
        let lane = index(lane_of(position));
        self.delta[lane] += 1;
        self.tail[lane] = self.tail[lane].max(position);
    }

    pub(super) fn removed(&mut self, position: u64) {
        self.delta[index(lane_of(position))] -= 1;
    }

    /// A later request's change on top of this one.
    pub(super) fn absorb(&mut self, later: &Self) {
        for lane in 0..2 {
            self.delta[lane] += later.delta[lane];
            self.tail[lane] = self.tail[lane].max(later.tail[lane]);
        }
    }

    /// Entries added less removed, both lanes.
    #[cfg(test)]
    fn total_delta(&self) -> i64 {
        self.delta[0] + self.delta[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_ranges_and_positions_keep_their_seq() {
        for class in Class::ALL {
            let (start, end) = bounds(class);
            for seq in [1, 42, (1 << 40) + 7] {
                let p = position(class, seq);
                assert!((start..=end).contains(&p));
                assert_eq!(lane_of(p), class);
                assert_eq!(seq_of(p), seq);
            }
        }
        assert!(
            position(Class::Transactional, u64::MAX >> 1) < position(Class::Marketing, 0),
            "every transactional entry sorts before every marketing one"
        );
    }

    #[test]
    fn counts_follow_changes_per_lane() {
        let mut lanes = Lanes::default();
        lanes.found(position(Class::Transactional, 3));
        let mut change = LaneChange::default();
        change.added(position(Class::Marketing, 5));
        change.added(position(Class::Marketing, 9));
        let mut later = LaneChange::default();
        later.removed(position(Class::Transactional, 3));
        later.added(position(Class::Transactional, 11));
        change.absorb(&later);
        assert_eq!(change.total_delta(), 2);
        lanes.apply(&change);
        assert_eq!(lanes.lane_depth(Class::Transactional), 1);
        assert_eq!(lanes.lane_depth(Class::Marketing), 2);
        assert_eq!(lanes.depth(), 3);
        assert_eq!(lanes.tail(Class::Transactional), 11);
        assert_eq!(lanes.tail(Class::Marketing), position(Class::Marketing, 9));
    }
}
