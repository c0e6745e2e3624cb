//! What an input must be before it is read as an event: no object in it names a key twice.
//!
//! serde reads a struct's fields and refuses one given twice, but a payload first arrives
//! as a JSON value (its kind chooses the type), and a JSON object read into a map keeps the
//! last of two equal keys without a word: `{"text": "fell", "text": "fine"}` would be
//! recorded as "fine". [`unique_keys`] walks any self-describing input (JSON through
//! `serde_json::Deserializer`) and refuses the second key, naming it and where it is.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Reads the whole of `input`, refusing an object that holds a key twice: the error names
/// the key and its path (`payload.sections`, `needs[2]`).
pub fn unique_keys<'de, D: Deserializer<'de>>(input: D) -> Result<(), D::Error> {
    Walk {
        path: String::new(),
    }
    .deserialize(input)
}

struct Walk {
    path: String,
}

impl Walk {
    fn key(&self, key: &str) -> Walk {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Walk { path }
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
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
            .next_element_seed(Walk {
                path: format!("{}[{i}]", self.path),
            })?
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
                return Err(de::Error::custom(format_args!(
                    "{} is given twice; give each key once",
                    inner.path
                )));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}
