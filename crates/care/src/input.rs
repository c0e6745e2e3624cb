//! What an input must be before it is read as an event: no object in it names a key twice.
//!
//! serde reads a struct's fields and refuses one given twice, but a payload first arrives
//! as a JSON value (its kind chooses the type), and a JSON object read into a map keeps the
//! last of two equal keys without a word: `{"text": "fell", "text": "fine"}` would be
//! recorded as "fine". [`unique_keys`] walks any self-describing input (JSON through
//! `serde_json::Deserializer`) and refuses the second key, naming it and where it is.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why [`unique_keys`] refused an input.
#[derive(Debug)]
pub enum KeyError<E> {
    /// An object names a key twice; `path` says where (`payload.sections.needs`,
    /// `items[2].dose`).
    Twice { path: String },
    /// The input is not well formed (the reader's own error, with its position).
    Input(E),
}

impl<E: fmt::Display> fmt::Display for KeyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Twice { path } => write!(f, "{path} is given twice; give each key once"),
            KeyError::Input(e) => e.fmt(f),
        }
    }
}

/// Reads the whole of `input`, refusing an object that holds a key twice: the error names
/// the key by its path (`payload.sections`, `needs[2]`).
pub fn unique_keys<'de, D: Deserializer<'de>>(input: D) -> Result<(), KeyError<D::Error>> {
    let twice = Cell::new(None);
    let walked = Walk {
        path: String::new(),
        twice: &twice,
    }
    .deserialize(input);
    match (twice.take(), walked) {
        (Some(path), _) => Err(KeyError::Twice { path }),
        (None, Err(e)) => Err(KeyError::Input(e)),
        (None, Ok(())) => Ok(()),
    }
}

/// One value being walked: where it is, and where a key given twice is noted (the reader's
/// error type cannot carry it).
struct Walk<'a> {
    path: String,
    twice: &'a Cell<Option<String>>,
}

impl<'a> Walk<'a> {
    fn at(&self, path: String) -> Walk<'a> {
        Walk {
            path,
            twice: self.twice,
        }
    }

    fn key(&self, key: &str) -> Walk<'a> {
        if self.path.is_empty() {
            self.at(key.to_string())
        } else {
            self.at(format!("{}.{key}", self.path))
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(self.at(format!("{}[{i}]", self.path)))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let inner = self.key(&key);
            if !seen.insert(key) {
                let message = format!("{} is given twice", inner.path);
                self.twice.set(Some(inner.path));
                return Err(de::Error::custom(message));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}
