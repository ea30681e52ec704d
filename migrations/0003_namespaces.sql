-- Namespaces (SPEC 10): the owners of callbacks, each with its quota (JSON, absent fields
-- unlimited) and the SHA-256 of its two tokens (never the tokens). `deleting` marks a delete
-- under way, so a restart finishes it. `default` always exists, without tokens or quota.
CREATE TABLE namespaces (
    name                TEXT PRIMARY KEY,
    quota               TEXT NOT NULL DEFAULT '{}',
    admin_token_sha256  TEXT,
    invoke_token_sha256 TEXT,
    deleting            INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL
);
INSERT INTO namespaces (name, created_at)
VALUES ('default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Every callback and async invocation belongs to one namespace; those stored before
-- namespaces existed belong to `default`.
ALTER TABLE callbacks ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
CREATE INDEX callbacks_namespace ON callbacks(namespace);
ALTER TABLE invocations ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
CREATE INDEX invocations_namespace ON invocations(namespace, status);
