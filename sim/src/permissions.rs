//! Who may call what: admins administer their account's subtree, teachers
//! read their own courses (and grade in them), everyone may read
//! themselves. Others get Canvas's 403 "unauthorized" body.
//!
//! Ids in the path are resolved in every form Canvas accepts
//! (`lookup.rs`), so `sis_course_id:X` is judged as the course it names.
//! An id that names nothing is let through so the handler answers 404, as
//! Canvas does for admins.

use crate::lookup::Kind;
use crate::model::Institution;

/// May `user` make this call?
pub(crate) fn permitted(inst: &Institution, user: u64, method: &str, path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let any_admin = inst.admins.iter().any(|(_, u)| *u == user);
    match segs.as_slice() {
        ["api", "v1", "accounts"] => true,
        ["api", "v1", "accounts", id, ..] => inst
            .resolve(Kind::Account, id, user)
            .is_none_or(|a| inst.is_admin_of(user, a)),
        ["api", "v1", "courses", id, rest @ ..] => {
            match inst
                .resolve(Kind::Course, id, user)
                .and_then(|c| inst.courses.get(&c))
            {
                None => true,
                Some(c) => {
                    inst.is_admin_of(user, c.account_id)
                        || (inst.teaches(user, c.id)
                            && (method == "GET" || rest.first() == Some(&"assignments")))
                }
            }
        }
        ["api", "v1", "sections", id, ..] => {
            match inst
                .resolve(Kind::Section, id, user)
                .and_then(|s| inst.sections.get(&s))
                .and_then(|s| inst.courses.get(&s.course_id))
            {
                None => true,
                Some(c) => {
                    inst.is_admin_of(user, c.account_id)
                        || (inst.teaches(user, c.id) && method == "GET")
                }
            }
        }
        ["api", "v1", "users", id, ..] => {
            inst.resolve(Kind::User, id, user).is_none_or(|u| u == user) || any_admin
        }
        ["api", "v1", "progress", ..] => true,
        _ => any_admin,
    }
}
