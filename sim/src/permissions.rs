//! Who may call what: admins administer their account's subtree, teachers
//! read their own courses, everyone may read themselves. Others get
//! Canvas's 403 "unauthorized" body.

use crate::data::Institution;
use crate::routes::{resolve_account, resolve_course};

/// May `user` make this call? Unknown objects are allowed through so the
/// handler answers 404, as Canvas does for admins.
pub(crate) fn permitted(inst: &Institution, user: u64, method: &str, path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let any_admin = inst.admins.iter().any(|(_, u)| *u == user);
    match segs.as_slice() {
        ["api", "v1", "accounts"] => true,
        ["api", "v1", "accounts", id, ..] => {
            resolve_account(inst, id).is_none_or(|a| inst.is_admin_of(user, a))
        }
        ["api", "v1", "courses", id, rest @ ..] => {
            match resolve_course(inst, id).and_then(|c| inst.courses.get(&c)) {
                None => true,
                Some(c) => {
                    inst.is_admin_of(user, c.account_id)
                        || (inst.teaches(user, c.id)
                            && (method == "GET" || rest.first() == Some(&"assignments")))
                }
            }
        }
        ["api", "v1", "users", "self", ..] => true,
        ["api", "v1", "users", id, ..] => id.parse::<u64>().is_ok_and(|id| id == user) || any_admin,
        ["api", "v1", "progress", ..] => true,
        _ => any_admin,
    }
}
