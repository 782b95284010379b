-- Devices: what the sessions list shows. `last_seen_at` is updated at most once a minute.
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
UPDATE sessions SET last_seen_at = refreshed_at;
