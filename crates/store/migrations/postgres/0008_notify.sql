-- Wake-ups between processes sharing this database (LISTEN/NOTIFY): a statement that queues jobs tells the
-- workers on `tlink_jobs`; a report reaching COMPLETED or FAILED is announced on `tlink_reports` with its id,
-- for requests waiting on it (`GET …/reports/{id}?wait=`) in other processes. Notifications are sent at
-- commit, and identical ones within a transaction are sent once.
CREATE FUNCTION tlink_jobs_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tlink_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_queued AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION tlink_jobs_queued();

CREATE FUNCTION tlink_report_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tlink_reports', NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_finished AFTER UPDATE OF status ON reports FOR EACH ROW
    WHEN (NEW.status IN ('COMPLETED', 'FAILED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tlink_report_finished();
