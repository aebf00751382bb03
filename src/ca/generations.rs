//! CA generations: which intermediate (and root) signs at which time.
//!
//! Generation 1 is the CA an instance is created with. `mayfly ca rotate` adds generation
//! N+1: a new intermediate, under the same root or a new one, that signs every certificate
//! from its `activeFrom` on. The schedule lives in the data dir as `ca/generations.json`; an
//! instance that never rotated has no such file and exactly one generation.
//!
//! Invariants the schedule keeps (checked when it is read, so a hand-edited file cannot
//! break them): generations are numbered 2, 3, … in order, their `activeFrom` strictly
//! increase, and each names as its root either itself (a new root) or the root of an earlier
//! generation. Generations are never removed: every certificate ever issued must keep
//! chaining to a CA the trusted root lists.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One rotation: generation `number` signs from `active_from` on, under the root created with
/// generation `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    pub active_from: OffsetDateTime,
    pub root: u32,
}

/// Every generation after the first, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    rotations: Vec<Generation>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("ca/generations.json is not a CA generation schedule: {0}")]
    Parse(String),
    #[error("ca/generations.json: generation {found} follows generation {previous}; expected {}", previous + 1)]
    Numbering { previous: u32, found: u32 },
    #[error(
        "ca/generations.json: generation {number} becomes active no later than generation {previous}"
    )]
    NotIncreasing { number: u32, previous: u32 },
    #[error(
        "ca/generations.json: generation {number} names root {root}, which is not its own or an earlier generation's"
    )]
    UnknownRoot { number: u32, root: u32 },
    #[error(
        "ca/generations.json: generation {number}: activeFrom {value:?} is not an RFC 3339 time"
    )]
    Time { number: u32, value: String },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSchedule {
    generations: Vec<RawGeneration>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGeneration {
    generation: u32,
    active_from: String,
    root: u32,
}

impl Schedule {
    /// Reads and checks a schedule file's text.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let raw: RawSchedule =
            serde_json::from_str(text).map_err(|e| ScheduleError::Parse(e.to_string()))?;
        let mut schedule = Schedule::default();
        for g in raw.generations {
            let active_from = OffsetDateTime::parse(&g.active_from, &Rfc3339).map_err(|_| {
                ScheduleError::Time {
                    number: g.generation,
                    value: g.active_from.clone(),
                }
            })?;
            schedule.check_next(g.generation, active_from, g.root)?;
            schedule.rotations.push(Generation {
                number: g.generation,
                active_from,
                root: g.root,
            });
        }
        Ok(schedule)
    }

    /// The file's text: pretty JSON, one generation per entry, times in UTC.
    pub fn to_json(&self) -> String {
        let raw = RawSchedule {
            generations: self
                .rotations
                .iter()
                .map(|g| RawGeneration {
                    generation: g.number,
                    active_from: rfc3339(g.active_from),
                    root: g.root,
                })
                .collect(),
        };
        // Plain structs with string keys: serialising cannot fail.
        let mut text = serde_json::to_string_pretty(&raw).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The generation a rotation at `active_from` would add (checked, not yet added).
    pub fn next(
        &self,
        active_from: OffsetDateTime,
        new_root: bool,
    ) -> Result<Generation, ScheduleError> {
        let number = self.latest_number() + 1;
        let root = if new_root {
            number
        } else {
            self.root_of(number - 1)
        };
        self.check_next(number, active_from, root)?;
        Ok(Generation {
            number,
            active_from,
            root,
        })
    }

    /// Adds a generation [`Schedule::next`] returned.
    pub fn push(&mut self, generation: Generation) -> Result<(), ScheduleError> {
        self.check_next(generation.number, generation.active_from, generation.root)?;
        self.rotations.push(generation);
        Ok(())
    }

    /// Generations after the first, oldest first.
    pub fn rotations(&self) -> &[Generation] {
        &self.rotations
    }

    /// The newest generation's number (1 without rotations).
    pub fn latest_number(&self) -> u32 {
        self.rotations.last().map_or(1, |g| g.number)
    }

    /// The generation whose root `number` signs under.
    pub fn root_of(&self, number: u32) -> u32 {
        self.rotations
            .iter()
            .find(|g| g.number == number)
            .map_or(1, |g| g.root)
    }

    fn check_next(
        &self,
        number: u32,
        active_from: OffsetDateTime,
        root: u32,
    ) -> Result<(), ScheduleError> {
        let previous = self.latest_number();
        if number != previous + 1 {
            return Err(ScheduleError::Numbering {
                previous,
                found: number,
            });
        }
        if let Some(last) = self.rotations.last()
            && active_from <= last.active_from
        {
            return Err(ScheduleError::NotIncreasing { number, previous });
        }
        let root_known = root == number
            || root == 1
            || self
                .rotations
                .iter()
                .any(|g| g.number == root && g.root == root);
        if !root_known {
            return Err(ScheduleError::UnknownRoot { number, root });
        }
        Ok(())
    }
}

/// RFC 3339 in UTC with whole seconds, as the schedule and trusted roots write times.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T1: OffsetDateTime = datetime!(2027-01-01 00:00 UTC);
    const T2: OffsetDateTime = datetime!(2027-06-01 00:00 UTC);

    #[test]
    fn rotations_number_from_two_and_keep_or_replace_the_root() {
        let mut schedule = Schedule::default();
        let second = schedule.next(T1, false).unwrap();
        assert_eq!((second.number, second.root), (2, 1));
        schedule.push(second).unwrap();
        let third = schedule.next(T2, true).unwrap();
        assert_eq!((third.number, third.root), (3, 3));
        schedule.push(third).unwrap();
        let fourth = schedule.next(T2 + time::Duration::days(1), false).unwrap();
        assert_eq!(
            fourth.root, 3,
            "a kept root is the latest generation's root"
        );
        let again = Schedule::parse(&schedule.to_json()).unwrap();
        assert_eq!(again, schedule);
    }

    #[test]
    fn a_rotation_must_come_after_the_previous_one() {
        let mut schedule = Schedule::default();
        schedule.push(schedule.next(T2, false).unwrap()).unwrap();
        let err = schedule.next(T1, false).unwrap_err();
        assert_eq!(
            err,
            ScheduleError::NotIncreasing {
                number: 3,
                previous: 2
            }
        );
        assert!(
            schedule.next(T2, false).is_err(),
            "the same instant is not later"
        );
    }

    #[test]
    fn hand_edited_schedules_are_checked() {
        let bad = [
            (
                r#"{"generations":[{"generation":3,"activeFrom":"2027-01-01T00:00:00Z","root":1}]}"#,
                "expected 2",
            ),
            (
                r#"{"generations":[{"generation":2,"activeFrom":"2027-01-01T00:00:00Z","root":5}]}"#,
                "names root 5",
            ),
            (
                r#"{"generations":[{"generation":2,"activeFrom":"next week","root":1}]}"#,
                "RFC 3339",
            ),
            (
                r#"{"generations":[{"generation":2,"activeFrom":"2027-01-01T00:00:00Z","root":1,"x":1}]}"#,
                "unknown field",
            ),
            (
                r#"{"generations":[{"generation":2,"activeFrom":"2027-01-01T00:00:00Z","root":1},{"generation":3,"activeFrom":"2026-01-01T00:00:00Z","root":1}]}"#,
                "no later than generation 2",
            ),
        ];
        for (text, message) in bad {
            let err = Schedule::parse(text).unwrap_err().to_string();
            assert!(err.contains(message), "{text}: {err}");
        }
    }
}
