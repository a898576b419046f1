-- Instance operators: users who run the server and own its plans (set with `tlink user set-operator`).
ALTER TABLE users ADD COLUMN is_operator BOOLEAN NOT NULL DEFAULT FALSE;
