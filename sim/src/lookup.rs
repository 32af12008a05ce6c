//! Ids as Canvas accepts them in paths and parameters.
//!
//! Every object can be named by its numeric id or by a SIS form:
//! `sis_account_id:X`, `sis_course_id:X`, `sis_section_id:X`,
//! `sis_term_id:X`, `sis_user_id:X` and `sis_login_id:X` (a user's login,
//! matched without regard to case). A SIS id holding characters a path
//! cannot carry is written in hex: `hex:sis_user_id:4131` is
//! `sis_user_id:A1`. Users also answer to `self` (the caller), accounts to
//! `self` (the root account). Anything else names nothing: Canvas answers
//! 404, never 400.

use crate::error::ApiError;
use crate::model::{Account, Course, Institution, ROOT_ACCOUNT_ID, Section, User};

/// The kinds of object a path or parameter can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Account,
    Course,
    Section,
    Term,
    User,
}

/// A parsed id: numeric, `self`, or a SIS column and value.
#[derive(Debug, PartialEq, Eq)]
enum Id {
    Numeric(u64),
    Myself,
    Sis(String, String),
}

fn parse(raw: &str) -> Option<Id> {
    let raw = raw.trim();
    if raw == "self" {
        return Some(Id::Myself);
    }
    if let Some(rest) = raw.strip_prefix("hex:") {
        let (column, hex) = rest.split_once(':')?;
        if !column.starts_with("sis_") {
            return None;
        }
        let value = decode_hex(hex)?;
        return Some(Id::Sis(column.to_owned(), value));
    }
    if let Some((column, value)) = raw.split_once(':') {
        if column.starts_with("sis_") && !value.is_empty() {
            return Some(Id::Sis(column.to_owned(), value.to_owned()));
        }
        return None;
    }
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok().map(Id::Numeric);
    }
    None
}

fn decode_hex(hex: &str) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl Institution {
    /// The numeric id `raw` names, if it names an existing object of
    /// `kind`; `caller` is who `self` is for users.
    pub(crate) fn resolve(&self, kind: Kind, raw: &str, caller: u64) -> Option<u64> {
        let id = parse(raw)?;
        let found = match (kind, id) {
            (Kind::User, Id::Myself) => Some(caller),
            (Kind::Account, Id::Myself) => Some(ROOT_ACCOUNT_ID),
            (_, Id::Myself) => None,
            (_, Id::Numeric(n)) => Some(n),
            (Kind::Account, Id::Sis(c, v)) if c == "sis_account_id" => self
                .accounts
                .values()
                .find(|a| a.sis_account_id.as_deref() == Some(&v))
                .map(|a| a.id),
            (Kind::Course, Id::Sis(c, v)) if c == "sis_course_id" => self
                .courses
                .values()
                .find(|x| x.sis_course_id.as_deref() == Some(&v))
                .map(|x| x.id),
            (Kind::Section, Id::Sis(c, v)) if c == "sis_section_id" => self
                .sections
                .values()
                .find(|x| x.sis_section_id.as_deref() == Some(&v))
                .map(|x| x.id),
            (Kind::Term, Id::Sis(c, v)) if c == "sis_term_id" => self
                .terms
                .values()
                .find(|x| x.sis_term_id.as_deref() == Some(&v))
                .map(|x| x.id),
            (Kind::User, Id::Sis(c, v)) if c == "sis_user_id" => self
                .users
                .values()
                .find(|u| u.sis_user_id.as_deref() == Some(&v))
                .map(|u| u.id),
            (Kind::User, Id::Sis(c, v)) if c == "sis_login_id" => self
                .users
                .values()
                .find(|u| u.login_id.eq_ignore_ascii_case(&v))
                .map(|u| u.id),
            (_, Id::Sis(..)) => None,
        }?;
        let exists = match kind {
            Kind::Account => self.accounts.contains_key(&found),
            Kind::Course => self.courses.contains_key(&found),
            Kind::Section => self.sections.contains_key(&found),
            Kind::Term => self.terms.contains_key(&found),
            Kind::User => self.users.contains_key(&found),
        };
        exists.then_some(found)
    }

    /// [`Institution::resolve`], or Canvas's 404.
    pub(crate) fn find(&self, kind: Kind, raw: &str, caller: u64) -> Result<u64, ApiError> {
        self.resolve(kind, raw, caller).ok_or(ApiError::NotFound)
    }

    /// The account `raw` names, or 404.
    pub(crate) fn find_account(&self, raw: &str) -> Result<&Account, ApiError> {
        let id = self.find(Kind::Account, raw, 0)?;
        self.accounts.get(&id).ok_or(ApiError::NotFound)
    }

    /// The course `raw` names, or 404.
    pub(crate) fn find_course(&self, raw: &str) -> Result<&Course, ApiError> {
        let id = self.find(Kind::Course, raw, 0)?;
        self.courses.get(&id).ok_or(ApiError::NotFound)
    }

    /// The section `raw` names, or 404.
    pub(crate) fn find_section(&self, raw: &str) -> Result<&Section, ApiError> {
        let id = self.find(Kind::Section, raw, 0)?;
        self.sections.get(&id).ok_or(ApiError::NotFound)
    }

    /// The user `raw` names (`self` is `caller`), or 404.
    pub(crate) fn find_user(&self, raw: &str, caller: u64) -> Result<&User, ApiError> {
        let id = self.find(Kind::User, raw, caller)?;
        self.users.get(&id).ok_or(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Preset;

    #[test]
    fn each_id_form_canvas_documents_is_parsed() {
        let cases = [
            ("42", Some(Id::Numeric(42))),
            (" 42 ", Some(Id::Numeric(42))),
            ("self", Some(Id::Myself)),
            (
                "sis_user_id:S-1",
                Some(Id::Sis("sis_user_id".into(), "S-1".into())),
            ),
            (
                "sis_user_id:a:b",
                Some(Id::Sis("sis_user_id".into(), "a:b".into())),
            ),
            (
                "hex:sis_user_id:412f42",
                Some(Id::Sis("sis_user_id".into(), "A/B".into())),
            ),
            ("hex:sis_user_id:4", None),
            ("hex:sis_user_id:zz", None),
            ("hex:id:41", None),
            ("sis_user_id:", None),
            ("other:1", None),
            ("-1", None),
            ("1e3", None),
            ("", None),
            ("99999999999999999999999", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn sis_forms_name_the_object_of_their_own_kind_only() {
        let inst = Institution::generate_with(Preset::Demo, 42, 0.0);
        let school = inst.schools()[0].clone();
        let sis = school.sis_account_id.clone().unwrap_or_default();
        assert_eq!(
            inst.resolve(Kind::Account, &format!("sis_account_id:{sis}"), 0),
            Some(school.id)
        );
        assert_eq!(
            inst.resolve(Kind::Course, &format!("sis_account_id:{sis}"), 0),
            None
        );
        let user = inst.users.values().find(|u| u.id > 10_000).cloned();
        let user = user.unwrap_or_else(|| unreachable!("the generator makes users"));
        let upper = user.login_id.to_uppercase();
        assert_eq!(
            inst.resolve(Kind::User, &format!("sis_login_id:{upper}"), 0),
            Some(user.id)
        );
        let hex: String = user
            .sis_user_id
            .clone()
            .unwrap_or_default()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            inst.resolve(Kind::User, &format!("hex:sis_user_id:{hex}"), 0),
            Some(user.id)
        );
        assert_eq!(inst.resolve(Kind::User, "self", 7), None, "no user 7");
        assert_eq!(inst.resolve(Kind::User, "self", 1), Some(1));
        assert_eq!(
            inst.resolve(Kind::Account, "self", 0),
            Some(ROOT_ACCOUNT_ID)
        );
        assert_eq!(inst.resolve(Kind::Course, "self", 1), None);
        assert_eq!(
            inst.resolve(Kind::Course, "999999", 0),
            None,
            "no such course"
        );
    }
}
