//! `easel schools` and `easel schools sis-prefix`.

use easel_app::{
    ConnectOptions, Connection, Home, SIM_INSTANCE, choose_instance, namespace_instance,
};
use easel_store::{Action, AuditEntry};

use crate::error::{CliError, Outcome};

/// `easel schools`.
pub async fn schools(
    home: &Home,
    options: &ConnectOptions,
    json: bool,
) -> Result<Outcome, CliError> {
    let conn = Connection::open(home, options).await?;
    let schools = conn.schools().await?;
    let prefixes = home
        .store
        .sis_prefixes(&namespace_instance(home, &conn.instance)?)?;
    let prefix_of = |school: u64| {
        prefixes
            .iter()
            .find(|p| p.school == school)
            .map(|p| p.prefix.clone())
    };
    if json {
        let v: Vec<_> = schools
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "name": s.name, "sis_id_prefix": prefix_of(s.id)}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        let rows: Vec<_> = schools.iter().map(|s| (s, prefix_of(s.id))).collect();
        print!("{}", schools_table(&rows, conn.sim.is_some()));
    }
    Ok(Outcome::Success)
}

/// `easel schools`'s table; the embedded simulator's list says so, since
/// its data resets on every command.
pub(crate) fn schools_table(
    schools: &[(&easel_runtime::School, Option<String>)],
    simulator: bool,
) -> String {
    let mut out = String::new();
    if simulator {
        out.push_str(
            "(simulator) the embedded Canvas simulator's schools; its data resets on every command\n",
        );
    }
    out.push_str(&format!("{:>8}  {:<14}  NAME\n", "ACCOUNT", "SIS PREFIX"));
    for (s, prefix) in schools {
        out.push_str(&format!(
            "{:>8}  {:<14}  {}\n",
            s.id,
            prefix.as_deref().unwrap_or("-"),
            s.name
        ));
    }
    out
}

/// `easel schools sis-prefix`: show, set or clear a school's SIS-id prefix.
pub async fn sis_prefix(
    home: &Home,
    options: &ConnectOptions,
    school: u64,
    prefix: Option<String>,
    clear: bool,
    json: bool,
) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    me.require(easel_app::Act::ChangeSettings)?;
    let instance = choose_instance(home, options.instance.as_deref())?
        .map_or_else(|| SIM_INSTANCE.to_owned(), |i| i.name);
    let namespace = namespace_instance(home, &instance)?;
    let change = |detail: String| {
        home.audit(&AuditEntry {
            instance: Some(namespace.clone()),
            school: Some(school),
            detail: Some(detail),
            ..AuditEntry::new(me.audit_name(), Action::SettingChanged)
        })
    };
    if clear {
        if home.store.clear_sis_prefix(&namespace, school)? {
            change(format!("sis-id-prefix of school {school} cleared"))?;
        }
    } else if let Some(prefix) = &prefix {
        // A typo'd account id is an error, not a prefix for nothing.
        let conn = Connection::open(home, options).await?;
        conn.school("sis-prefix", school).await?;
        home.store
            .set_sis_prefix(&namespace, school, prefix, &me.name)
            .map_err(|e| match e {
                easel_store::StoreError::Invalid(m) => CliError::input(m),
                other => other.into(),
            })?;
        change(format!("sis-id-prefix of school {school} = {prefix:?}"))?;
    }
    let current = home.store.sis_prefix(&namespace, school)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"instance": namespace, "school": school, "sis_id_prefix": current})
        );
    } else {
        match &current {
            Some(p) => println!(
                "school {school} ({namespace}): SIS imports may create objects whose SIS id starts with {p:?}"
            ),
            None => println!(
                "school {school} ({namespace}) has no SIS-id prefix: its SIS imports may update its own objects \
                 but create none; set one with `easel schools sis-prefix {school} PREFIX`"
            ),
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_simulators_schools_are_marked_as_the_simulators() {
        let school = easel_runtime::School {
            id: 2,
            name: "Lincoln High School".into(),
        };
        let schools = [(&school, Some("LHS-".to_owned()))];
        let sim = schools_table(&schools, true);
        assert!(sim.starts_with("(simulator)"), "{sim}");
        assert!(
            sim.contains("       2  LHS-            Lincoln High School\n"),
            "{sim}"
        );
        let real = schools_table(&schools, false);
        assert!(!real.contains("simulator"), "{real}");
    }
}
