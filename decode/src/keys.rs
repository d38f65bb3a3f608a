//! Top-level keys: which schema field a key names, and whether it came
//! before — exact, and without hashing every key.
//!
//! A schema has a dozen fields and a record about as many keys, so hashing
//! each key into a set (SipHash, as the previous decoder did) cost more than
//! comparing it. A key that names a schema field is found by length, then
//! by comparing bytes, trying first the field that follows the last one
//! matched (producers write fields in a fixed order); it was seen before iff
//! that field already holds a value, so known fields need no set at all.
//! Keys outside the schema are compared with the few seen before; past
//! [`FEW`] of them they move into an ordered set, so a hostile record with
//! a hundred thousand keys costs `O(n log n)` comparisons, not `O(n²)`.

use std::borrow::Cow;
use std::collections::BTreeSet;

/// The schema's field names, arranged for lookup.
#[derive(Debug, Clone)]
pub(crate) struct FieldLookup {
    /// By field index; `None` for a name an earlier field already has (a
    /// schema `validate` refuses: the first field of that name wins).
    names: Vec<Option<Box<str>>>,
    /// Indices of the fields whose names have each length.
    by_len: Vec<Vec<usize>>,
}

impl FieldLookup {
    pub fn new<'n>(names: impl IntoIterator<Item = &'n str>) -> Self {
        let mut lookup = FieldLookup {
            names: Vec::new(),
            by_len: Vec::new(),
        };
        for name in names {
            let i = lookup.names.len();
            if lookup.find(name, i).is_some() {
                lookup.names.push(None);
                continue;
            }
            if lookup.by_len.len() <= name.len() {
                lookup.by_len.resize(name.len() + 1, Vec::new());
            }
            lookup.by_len[name.len()].push(i);
            lookup.names.push(Some(name.into()));
        }
        lookup
    }

    /// The field named `key`, trying `hint` first.
    #[inline]
    pub fn find(&self, key: &str, hint: usize) -> Option<usize> {
        let same = |i: &usize| matches!(self.names.get(*i), Some(Some(n)) if **n == *key);
        if same(&hint) {
            return Some(hint);
        }
        self.by_len.get(key.len())?.iter().copied().find(same)
    }
}

/// Below this many, unknown keys are compared one by one.
const FEW: usize = 16;

/// The keys of one record that are not schema fields.
#[derive(Debug, Default)]
pub(crate) struct UnknownKeys<'p> {
    few: Vec<Cow<'p, str>>,
    many: BTreeSet<Cow<'p, str>>,
}

impl<'p> UnknownKeys<'p> {
    pub fn clear(&mut self) {
        self.few.clear();
        if !self.many.is_empty() {
            self.many.clear();
        }
    }

    /// Adds `key`; false if it was already there.
    pub fn insert(&mut self, key: Cow<'p, str>) -> bool {
        if self.many.is_empty() {
            if self.few.contains(&key) {
                return false;
            }
            if self.few.len() < FEW {
                self.few.push(key);
                return true;
            }
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_name_whatever_the_hint() {
        let lookup = FieldLookup::new(["id", "first_name", "last_name", "post_code", "x"]);
        for hint in 0..7 {
            assert_eq!(lookup.find("id", hint), Some(0));
            assert_eq!(lookup.find("last_name", hint), Some(2));
            assert_eq!(lookup.find("post_code", hint), Some(3));
            assert_eq!(lookup.find("x", hint), Some(4));
            assert_eq!(lookup.find("y", hint), None);
            assert_eq!(lookup.find("", hint), None);
            assert_eq!(lookup.find("first_name_and_more", hint), None);
            assert_eq!(lookup.find("ID", hint), None);
        }
        // A duplicated name (refused by `validate`) maps to its first field.
        let twice = FieldLookup::new(["a", "a"]);
        assert_eq!(twice.find("a", 1), Some(0));
    }

    #[test]
    fn unknown_keys_repeat_is_found_few_or_many() {
        let mut keys = UnknownKeys::default();
        for n in 0..1000 {
            assert!(keys.insert(Cow::Owned(format!("k{n}"))), "{n}");
            assert!(!keys.insert(Cow::Owned(format!("k{}", n / 2))), "{n}");
        }
        keys.clear();
        assert!(keys.insert(Cow::Borrowed("k1")));
        assert!(!keys.insert(Cow::Borrowed("k1")));
    }
}
