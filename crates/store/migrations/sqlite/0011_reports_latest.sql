-- The latest completed report of each tool on an asset (an asset's page, rule dry runs, the result a new
-- one is compared with) is one index seek per tool: the newest (created_at, id) first, no sort for ties.
CREATE INDEX reports_asset_latest ON reports (asset_id, tool, created_at, id);
DROP INDEX reports_asset;
