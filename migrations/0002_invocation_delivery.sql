-- How an async invocation's result reached its X-Callback-Url, and whether a gateway restart
-- interrupted it and it ran again.
ALTER TABLE invocations ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invocations ADD COLUMN callback_delivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invocations ADD COLUMN retried INTEGER NOT NULL DEFAULT 0;
