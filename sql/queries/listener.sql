-- name: notifyProbe
-- connect's check that notifications reach the client's LISTEN connection (which a transaction
-- pooler silently breaks): sent through the query pool, as the triggers' NOTIFYs are. It names
-- no queue, so every other client of the schema ignores it.
select pg_notify(/*literal:channel:ready*/'pgwake:ready', json_build_object('probe', $1::text)::text);
