-- A rule's recent deliveries (the dashboard's rule page), newest first.
CREATE INDEX deliveries_rule ON deliveries (org_id, rule_id, created_at, id);
