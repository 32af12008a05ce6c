//! Request bodies: parsed once, strictly, and re-serialised from the parsed
//! value, so the host sends exactly what the policy read.
//!
//! Threat: a body that means one thing to the policy and another to Canvas.
//! A JSON array that is also a CSV, a form string inside a JSON string, a
//! duplicate key (the policy reads the first, Rails the last), an id given
//! as an object: each was sent unread. Here a body must be one JSON object
//! with unique keys; it is parsed into a [`Body`] whose canonical bytes are
//! what goes on the wire.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::sis_csv::SisCsv;

/// Largest body a plugin may send (bytes).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A checked request body: a JSON object (or, for a SIS import, a CSV
/// file), and the exact bytes to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    content: Content,
    bytes: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Content {
    Json(Map<String, Value>),
    Csv(SisCsv),
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all, or a duplicate key.
    #[error("the body is not valid JSON with unique keys: {0}")]
    Json(String),
    /// JSON, but not an object (an array, string, number...).
    #[error(
        "the body must be one JSON object (got {0}); Canvas would read another form differently"
    )]
    NotObject(&'static str),
    /// Over [`MAX_BODY_BYTES`].
    #[error("the body is over {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

impl Body {
    /// Parse a plugin's body text.
    pub fn parse(text: &str) -> Result<Self, BodyError> {
        if text.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        let Strict(value) =
            serde_json::from_str::<Strict>(text).map_err(|e| BodyError::Json(short(&e)))?;
        let value = match value {
            Value::Object(map) => map,
            other => return Err(BodyError::NotObject(kind(&other))),
        };
        let bytes = Value::Object(value.clone()).to_string();
        Ok(Self {
            content: Content::Json(value),
            bytes,
        })
    }

    /// A SIS import's file as a body: its text written again from the
    /// parsed rows.
    pub fn sis_csv(csv: SisCsv) -> Self {
        Self {
            bytes: csv.to_text(),
            content: Content::Csv(csv),
        }
    }

    /// The parsed object (`None` for a CSV file).
    pub fn value(&self) -> Option<&Map<String, Value>> {
        match &self.content {
            Content::Json(map) => Some(map),
            Content::Csv(_) => None,
        }
    }

    /// The parsed SIS import file (`None` for a JSON body).
    pub fn csv(&self) -> Option<&SisCsv> {
        match &self.content {
            Content::Csv(csv) => Some(csv),
            Content::Json(_) => None,
        }
    }

    /// The media type the bytes are sent as.
    pub fn content_type(&self) -> &'static str {
        match self.content {
            Content::Json(_) => "application/json",
            Content::Csv(_) => "text/csv",
        }
    }

    /// The canonical text sent to Canvas: JSON with keys sorted and no
    /// spaces, or the CSV file written again.
    pub fn as_str(&self) -> &str {
        &self.bytes
    }
}

/// serde_json's message without the input it quotes (which is the plugin's).
fn short(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("duplicate key") {
        return format!("duplicate key at line {} column {}", e.line(), e.column());
    }
    format!(
        "{:?} at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value that refuses duplicate keys at any depth.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        serde_json::Number::from_f64(v)
            .map(|n| Strict(Value::Number(n)))
            .ok_or_else(|| E::custom("a number JSON cannot carry"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Strict(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_re_serialised_with_exactly_its_keys() {
        let b = Body::parse(r#"{ "course": {"event": "offer", "name": "x"} }"#).unwrap();
        assert_eq!(b.as_str(), r#"{"course":{"event":"offer","name":"x"}}"#);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(Body::parse(r#"{"a":1,"a":2}"#).is_err());
        assert!(Body::parse(r#"{"c":{"course_id":1,"course_id":2}}"#).is_err());
    }

    #[test]
    fn arrays_strings_and_numbers_at_the_top_are_refused() {
        for text in [r#"["&course_ids[]=142&"]"#, r#""a=b""#, "7", "null"] {
            assert!(
                matches!(Body::parse(text), Err(BodyError::NotObject(_))),
                "{text}"
            );
        }
    }

    /// Found by the `body` fuzz target: without serde_json's exact float
    /// parsing, a number re-serialised to other digits than were read.
    #[test]
    fn a_float_re_parses_to_the_value_the_policy_read() {
        let b =
            Body::parse(r#"{"course_ids_to_add":[1844444444444444444444e42,3],"as_user_id":4}"#)
                .unwrap();
        let again = Body::parse(b.as_str()).unwrap();
        assert_eq!(again.value(), b.value());
        assert_eq!(again.as_str(), b.as_str());
    }

    #[test]
    fn an_error_does_not_quote_the_body() {
        let e = Body::parse(r#"{"secret-ish": tru}"#).unwrap_err();
        assert!(!e.to_string().contains("secret-ish"), "{e}");
    }
}
