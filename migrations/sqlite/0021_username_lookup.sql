-- User names are looked up as `lower(username) = lower(?)`, the one spelling of a case-insensitive
-- match that SQLite and PostgreSQL share; this index serves it (and still refuses two spellings).
CREATE UNIQUE INDEX accounts_by_lower_username ON accounts (lower(username));
