//! The two schemas kept in step: an empty SQLite file and an empty PostgreSQL database, each
//! migrated by Lectern, must have the same tables and views, the same columns (type family,
//! nullability, default), the same indexes and unique constraints, and the same triggers. Runs in
//! the suite's PostgreSQL pass (it needs both).

use std::collections::BTreeSet;

use sqlx::AnyPool;

use crate::common::{fresh_database, postgres_under_test};

/// What the comparison reads of a schema, each item as one line of text for a readable diff.
#[derive(Debug, Default)]
struct Schema {
    relations: BTreeSet<String>,
    columns: BTreeSet<String>,
    indexes: BTreeSet<String>,
    triggers: BTreeSet<String>,
}

/// A declared type's family: what both backends store alike.
fn family(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    match () {
        _ if t.contains("int") => "integer",
        _ if t.contains("char") || t.contains("text") => "text",
        _ if t.contains("real") || t.contains("floa") || t.contains("doub") => "real",
        _ if t.contains("blob") || t.contains("bytea") => "bytes",
        _ if t.contains("bool") => "boolean",
        _ => "any",
    }
}

/// A column default as both backends would compute it: the current time, a literal, or nothing.
fn default_value(text: Option<&str>) -> String {
    let Some(text) = text.map(str::trim) else {
        return String::new();
    };
    let text = text.trim_start_matches('(').trim_end_matches(')');
    if text.contains("strftime") || text.contains("lectern_now") {
        return "now".to_owned();
    }
    if text.starts_with("nextval(") {
        return String::new();
    }
    let literal = text.split("::").next().unwrap_or(text);
    match literal {
        "false" => "0".to_owned(),
        "true" => "1".to_owned(),
        other => other.to_owned(),
    }
}

async fn sqlite_schema(pool: &AnyPool) -> Schema {
    let mut schema = Schema::default();
    let objects: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT type, name, tbl_name FROM sqlite_master
         WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (kind, name, table) in &objects {
        match kind.as_str() {
            "table" | "view" => {
                schema.relations.insert(format!("{kind} {name}"));
            }
            "trigger" => {
                schema.triggers.insert(format!("{table}: {name}"));
            }
            _ => {}
        }
    }
    for (_, table, _) in objects.iter().filter(|(kind, _, _)| kind == "table") {
        let columns: Vec<(i64, String, String, i64, Option<String>, i64)> =
            sqlx::query_as(&format!("PRAGMA table_info('{table}')"))
                .fetch_all(pool)
                .await
                .unwrap();
        let mut primary: Vec<(i64, String)> = Vec::new();
        for (_, name, declared, not_null, default, pk) in &columns {
            if *pk > 0 {
                primary.push((*pk, name.clone()));
            }
            let not_null = *not_null == 1 || *pk > 0;
            schema.columns.insert(format!(
                "{table}.{name}: {}{}{}",
                family(declared),
                if not_null { " not null" } else { "" },
                match default_value(default.as_deref()) {
                    d if d.is_empty() => String::new(),
                    d => format!(" default {d}"),
                }
            ));
        }
        primary.sort();
        let primary: Vec<String> = primary.into_iter().map(|(_, n)| n).collect();
        if !primary.is_empty() {
            schema
                .indexes
                .insert(format!("{table} unique ({})", primary.join(", ")));
        }
        let indexes: Vec<(i64, String, i64, String, i64)> =
            sqlx::query_as(&format!("PRAGMA index_list('{table}')"))
                .fetch_all(pool)
                .await
                .unwrap();
        for (_, index, unique, _, _) in indexes {
            let columns: Vec<(i64, i64, Option<String>)> =
                sqlx::query_as(&format!("PRAGMA index_info('{index}')"))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            let columns: Vec<String> = columns
                .into_iter()
                .map(|(_, _, name)| name.unwrap_or_else(|| "<expression>".to_owned()))
                .collect();
            schema.indexes.insert(format!(
                "{table} {}({})",
                if unique == 1 { "unique " } else { "" },
                columns.join(", ")
            ));
        }
    }
    schema
}

async fn postgres_schema(pool: &AnyPool) -> Schema {
    let mut schema = Schema::default();
    let relations: Vec<(String, String)> = sqlx::query_as(
        "SELECT CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END, table_name::text
         FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (kind, name) in &relations {
        schema.relations.insert(format!("{kind} {name}"));
    }
    let columns: Vec<(String, String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text,
                c.column_default::text, t.table_type::text
         FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (table, name, declared, nullable, default, kind) in columns {
        if kind == "VIEW" {
            continue;
        }
        schema.columns.insert(format!(
            "{table}.{name}: {}{}{}",
            family(&declared),
            if nullable == "NO" { " not null" } else { "" },
            match default_value(default.as_deref()) {
                d if d.is_empty() => String::new(),
                d => format!(" default {d}"),
            }
        ));
    }
    let indexes: Vec<(String, bool, String)> = sqlx::query_as(
        "SELECT t.relname::text, ix.indisunique,
                array_to_string(ARRAY(
                    SELECT CASE WHEN k.attnum = 0 THEN '<expression>' ELSE a.attname::text END
                    FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                    ORDER BY k.n), ', ')
         FROM pg_index ix
         JOIN pg_class t ON t.oid = ix.indrelid
         JOIN pg_namespace ns ON ns.oid = t.relnamespace
         WHERE ns.nspname = 'public' AND t.relname NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (table, unique, columns) in indexes {
        schema.indexes.insert(format!(
            "{table} {}({columns})",
            if unique { "unique " } else { "" }
        ));
    }
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT event_object_table::text, trigger_name::text
         FROM information_schema.triggers WHERE trigger_schema = 'public'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (table, name) in triggers {
        schema.triggers.insert(format!("{table}: {name}"));
    }
    schema
}

/// What one side has and the other lacks, as lines.
fn differences(what: &str, sqlite: &BTreeSet<String>, postgres: &BTreeSet<String>) -> Vec<String> {
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>, side: &str| {
        a.difference(b)
            .map(|item| format!("{what} only in {side}: {item}"))
            .collect::<Vec<_>>()
    };
    let mut lines = only(sqlite, postgres, "SQLite");
    lines.extend(only(postgres, sqlite, "PostgreSQL"));
    lines
}

#[tokio::test]
async fn sqlite_and_postgresql_are_migrated_to_the_same_schema() {
    if postgres_under_test().is_none() {
        eprintln!("skipped: the schemas are compared in the suite's PostgreSQL pass");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite_file = dir.path().join("parity").join("lectern.db");
    let sqlite = lectern::db::open(&lectern::db::Location::Sqlite(sqlite_file))
        .await
        .unwrap();
    let postgres = lectern::db::open(&fresh_database(dir.path()).await.parse().unwrap())
        .await
        .unwrap();
    let (a, b) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    assert!(
        a.columns
            .iter()
            .any(|c| c.starts_with("accounts.username: text not null")),
        "the schema was read: {:#?}",
        a.columns
    );
    let mut lines = differences("relation", &a.relations, &b.relations);
    lines.extend(differences("column", &a.columns, &b.columns));
    lines.extend(differences("index", &a.indexes, &b.indexes));
    lines.extend(differences("trigger", &a.triggers, &b.triggers));
    assert!(
        lines.is_empty(),
        "the schemas differ ({} differences):\n{}",
        lines.len(),
        lines.join("\n")
    );
}
