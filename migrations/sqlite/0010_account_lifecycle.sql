-- Account lifecycle: admins deactivate and reactivate accounts (a deactivated account cannot sign in
-- and has no sessions; its work is kept), and see when each person last signed in.
ALTER TABLE accounts ADD COLUMN deactivated_at TEXT;
ALTER TABLE accounts ADD COLUMN last_sign_in_at TEXT;
