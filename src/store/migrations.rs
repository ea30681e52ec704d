//! Embedded schema migrations from `migrations/`, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Migrations in order; the database's `user_version` counts how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_invocation_delivery.sql"),
    include_str!("../../migrations/0003_namespaces.sql"),
];

/// Applies every migration newer than the database, each in its own transaction.
pub fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().expect("open");
        apply(&mut conn).expect("first");
        apply(&mut conn).expect("second");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v as usize, MIGRATIONS.len());
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('callbacks','revisions','invocations')",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert_eq!(tables, 3);
        let default: String = conn
            .query_row("SELECT name FROM namespaces", [], |r| r.get(0))
            .expect("the default namespace");
        assert_eq!(default, "default");
    }
}
