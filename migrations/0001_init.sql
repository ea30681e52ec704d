-- Callbacks: the current definition (source files included, as JSON), state and last error.
CREATE TABLE callbacks (
    path        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    revision    INTEGER NOT NULL DEFAULT 0,
    image       TEXT,
    state       TEXT NOT NULL,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Every successful deploy that changed source or settings; keeps the definition so an image
-- can be rebuilt from it.
CREATE TABLE revisions (
    path        TEXT NOT NULL REFERENCES callbacks(path) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    image       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (path, revision)
);

-- Asynchronous invocations: the request as received and, once finished, its result.
CREATE TABLE invocations (
    id          TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    status      TEXT NOT NULL,
    request     TEXT NOT NULL,
    response    TEXT,
    error       TEXT,
    callback_url TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX invocations_status ON invocations(status, created_at);
