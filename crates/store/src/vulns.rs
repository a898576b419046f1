//! Vulnerabilities: the OSV advisory database (shared by all orgs), each agent's current findings, and
//! suppressions.
//!
//! - An advisory is imported whole or not at all (one transaction replaces its affected rows); an import of an
//!   advisory whose `modified` stamp is unchanged writes nothing, so importing the same feed twice is a no-op.
//! - Findings are derived data: a match run for an agent replaces all of its rows in one transaction, keeping
//!   the `first_seen_at` of findings it already had. Alerts for new findings are written in that transaction.
//! - A suppression hides a CVE for the whole org (`agent_id` = '') or for one agent; listings ask for either the
//!   active (unsuppressed) or the suppressed findings.

use tlink_domain::{AgentId, OrgId, UserId};

use crate::agents::AgentRow;
use crate::alerts::{AlertFire, fire_stmts};
use crate::db::{Dialect, Row, Stmt, now_millis};
use crate::{Page, PageQuery, Result, Store, params};

/// An advisory to import, already parsed and normalised.
#[derive(Debug, Clone)]
pub struct AdvisoryImport {
    pub id: String,
    pub modified: String,
    pub published: Option<String>,
    pub summary: Option<String>,
    /// JSON array of the CVE ids it covers.
    pub cves: String,
    pub severity: String,
    pub score: Option<f64>,
    pub vector_type: Option<String>,
    pub fix_available: bool,
    /// `(distro key, source package, affected entry as JSON)`.
    pub affected: Vec<(String, String, String)>,
}

/// What importing one advisory did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Inserted,
    Updated,
    /// Already stored with the same `modified` stamp.
    Unchanged,
    /// A withdrawn advisory was removed (or was not stored).
    Removed,
}

/// One affected entry of an advisory, for matching.
#[derive(Debug, Clone)]
pub struct AffectedRow {
    pub advisory_id: String,
    pub package: String,
    pub spec: String,
    pub cves: String,
    pub severity: String,
    pub vector_type: Option<String>,
}

/// One vulnerability of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub cve: String,
    pub package: String,
    pub binary_name: String,
    pub installed_version: String,
    pub reported_package: String,
    pub fixed_version: Option<String>,
    /// JSON array of advisory ids.
    pub advisories: String,
    pub severity: String,
    pub severity_level: i64,
    pub vector_type: Option<String>,
}

/// A finding as stored, with its agent.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub agent_id: AgentId,
    pub finding: Finding,
    pub first_seen_at: i64,
}

/// Filters of a vulnerability listing.
#[derive(Debug, Clone, Default)]
pub struct VulnFilter {
    pub agent_id: Option<AgentId>,
    /// Only findings with a fixed version published (a security notice exists).
    pub has_fix: bool,
    /// Source or binary package name.
    pub package: Option<String>,
    pub cve: Option<String>,
    /// The suppressed findings instead of the active ones.
    pub suppressed: bool,
    /// Only findings of this severity (`critical`, `high`, `medium`, `low`, `negligible`, `unknown`).
    pub severity: Option<String>,
}

/// A suppression of a CVE.
#[derive(Debug, Clone, PartialEq)]
pub struct SuppressionRow {
    pub cve: String,
    /// `None`: for every agent of the org.
    pub agent_id: Option<AgentId>,
    pub reason: String,
    pub created_by: Option<UserId>,
    pub created_at: i64,
}

/// Separates the parts of a vulnerability group's page key (none of them contains a newline).
const KEY_SEP: char = '\n';

/// The columns [`FindingRow::from_row`] reads, in its order, of the `agent_vulns` alias `$t`.
macro_rules! finding_columns {
    ($t:literal) => {
        concat!(
            $t,
            ".agent_id, ",
            $t,
            ".cve, ",
            $t,
            ".package, ",
            $t,
            ".binary_name, ",
            $t,
            ".installed_version, ",
            $t,
            ".reported_package, ",
            $t,
            ".fixed_version, ",
            $t,
            ".advisories, ",
            $t,
            ".severity, ",
            $t,
            ".severity_level, ",
            $t,
            ".vector_type, ",
            $t,
            ".first_seen_at"
        )
    };
}

impl FindingRow {
    fn from_row(r: &Row) -> Result<FindingRow> {
        Ok(FindingRow {
            agent_id: AgentId::from_trusted(r.text(0)?),
            finding: Finding {
                cve: r.text(1)?,
                package: r.text(2)?,
                binary_name: r.text(3)?,
                installed_version: r.text(4)?,
                reported_package: r.text(5)?,
                fixed_version: r.opt_text(6)?,
                advisories: r.text(7)?,
                severity: r.text(8)?,
                severity_level: r.i64(9)?,
                vector_type: r.opt_text(10)?,
            },
            first_seen_at: r.i64(11)?,
        })
    }
}

/// The filter on `agent_vulns` alias `$t`, with the parameters $1 org, $2 agent ('' any), $3 has-fix (0/1),
/// $4 package ('' any), $5 cve ('' any), $6 suppressed (0/1), $7 from, $8 until, $9 severity ('' any).
macro_rules! finding_filter {
    ($t:literal) => {
        concat!(
            $t,
            ".org_id = $1 AND ($2 = '' OR ",
            $t,
            ".agent_id = $2) AND ($3 = 0 OR ",
            $t,
            ".fixed_version IS NOT NULL) AND ($4 = '' OR ",
            $t,
            ".package = $4 OR ",
            $t,
            ".binary_name = $4) AND ($5 = '' OR ",
            $t,
            ".cve = $5) AND ",
            $t,
            ".first_seen_at >= $7 AND ",
            $t,
            ".first_seen_at < $8 AND ($9 = '' OR ",
            $t,
            ".severity = $9) AND (CASE WHEN EXISTS (SELECT 1 FROM vuln_suppressions s WHERE s.org_id = ",
            $t,
            ".org_id AND s.cve = ",
            $t,
            ".cve AND (s.agent_id = '' OR s.agent_id = ",
            $t,
            ".agent_id)) THEN 1 ELSE 0 END) = $6"
        )
    };
}

fn filter_params(org: &OrgId, f: &VulnFilter, page: &PageQuery) -> Vec<crate::Value> {
    Vec::from(params![
        org.as_str(),
        f.agent_id.as_ref().map_or("", |a| a.as_str()),
        i64::from(f.has_fix),
        f.package.as_deref().unwrap_or(""),
        f.cve.as_deref().unwrap_or(""),
        i64::from(f.suppressed),
        page.from.unwrap_or(i64::MIN),
        page.until.unwrap_or(i64::MAX),
        f.severity.as_deref().unwrap_or("")
    ])
}

impl Store {
    /// Imports one advisory (see the module documentation). A withdrawn advisory is passed with `withdrawn`.
    pub async fn import_advisory(&self, a: &AdvisoryImport, withdrawn: bool) -> Result<ImportOutcome> {
        const CURRENT: &str = "SELECT modified FROM vuln_advisories WHERE id = $1";
        const DELETE: &str = "DELETE FROM vuln_advisories WHERE id = $1";
        const CLEAR: &str = "DELETE FROM vuln_affected WHERE advisory_id = $1";
        const UPSERT: &str = "INSERT INTO vuln_advisories (id, modified, published, summary, cves, severity, score, \
            vector_type, fix_available, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
            ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published, \
            summary = excluded.summary, cves = excluded.cves, severity = excluded.severity, score = excluded.score, \
            vector_type = excluded.vector_type, fix_available = excluded.fix_available, \
            imported_at = excluded.imported_at";
        const AFFECTED: &str = "INSERT INTO vuln_affected (advisory_id, distro, package, spec) VALUES ($1, $2, $3, $4)";
        let current = self.db.query_opt(CURRENT, &params![a.id.as_str()]).await?.map(|r| r.text(0)).transpose()?;
        if withdrawn {
            if current.is_some() {
                self.db
                    .transaction(vec![
                        Stmt::new(CLEAR, params![a.id.as_str()]),
                        Stmt::new(DELETE, params![a.id.as_str()]),
                    ])
                    .await?;
            }
            return Ok(ImportOutcome::Removed);
        }
        if current.as_deref() == Some(a.modified.as_str()) {
            return Ok(ImportOutcome::Unchanged);
        }
        let mut stmts = vec![
            Stmt::new(CLEAR, params![a.id.as_str()]),
            Stmt::new(
                UPSERT,
                params![
                    a.id.as_str(),
                    a.modified.as_str(),
                    a.published.as_deref(),
                    a.summary.as_deref(),
                    a.cves.as_str(),
                    a.severity.as_str(),
                    a.score,
                    a.vector_type.as_deref(),
                    a.fix_available,
                    now_millis()
                ],
            ),
        ];
        for (distro, package, spec) in &a.affected {
            stmts.push(Stmt::new(AFFECTED, params![a.id.as_str(), distro.as_str(), package.as_str(), spec.as_str()]));
        }
        self.db.transaction(stmts).await?;
        Ok(if current.is_some() { ImportOutcome::Updated } else { ImportOutcome::Inserted })
    }

    /// How many advisories are stored.
    pub async fn advisory_count(&self) -> Result<i64> {
        self.db.query_opt("SELECT COUNT(*) FROM vuln_advisories", &[]).await?.map_or(Ok(0), |r| r.i64(0))
    }

    /// The affected entries of `distro` for any of `packages` (source package names), with their advisory.
    pub async fn affected_entries(&self, distro: &str, packages: &[String]) -> Result<Vec<AffectedRow>> {
        const SQLITE: &str = "SELECT f.advisory_id, f.package, f.spec, a.cves, a.severity, a.vector_type \
            FROM vuln_affected f JOIN vuln_advisories a ON a.id = f.advisory_id \
            WHERE f.distro = $1 AND f.package IN (SELECT value FROM json_each($2)) ORDER BY f.advisory_id";
        const PG: &str = "SELECT f.advisory_id, f.package, f.spec, a.cves, a.severity, a.vector_type \
            FROM vuln_affected f JOIN vuln_advisories a ON a.id = f.advisory_id \
            WHERE f.distro = $1 AND f.package IN (SELECT jsonb_array_elements_text(CAST($2 AS TEXT)::jsonb)) \
            ORDER BY f.advisory_id";
        let sql = match self.db.dialect() {
            Dialect::Sqlite => SQLITE,
            Dialect::Postgres => PG,
        };
        let names = serde_json::to_string(packages).unwrap_or_else(|_| "[]".into());
        let rows = self.db.query(sql, &params![distro, names]).await?;
        rows.iter()
            .map(|r| {
                Ok(AffectedRow {
                    advisory_id: r.text(0)?,
                    package: r.text(1)?,
                    spec: r.text(2)?,
                    cves: r.text(3)?,
                    severity: r.text(4)?,
                    vector_type: r.opt_text(5)?,
                })
            })
            .collect()
    }

    /// Agents of every org with a known distribution, in id order after `after`, for re-matching after an
    /// import.
    pub async fn agents_after(&self, after: &str, limit: u32) -> Result<Vec<AgentRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            crate::agents::agent_columns!(),
            " FROM agents WHERE id > $1 AND distro IS NOT NULL ORDER BY id LIMIT $2"
        );
        let rows = self.db.query(SQL, &params![after, i64::from(limit)]).await?;
        rows.iter().map(AgentRow::from_row).collect()
    }

    /// The agent's current findings.
    pub async fn agent_findings(&self, org: &OrgId, agent: &AgentId) -> Result<Vec<FindingRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            finding_columns!("v"),
            " FROM agent_vulns v WHERE v.org_id = $1 AND v.agent_id = $2 ORDER BY v.cve, v.package"
        );
        let rows = self.db.query(SQL, &params![org.as_str(), agent.as_str()]).await?;
        rows.iter().map(FindingRow::from_row).collect()
    }

    /// CVEs suppressed for this agent (org-wide or for it).
    pub async fn suppressed_cves(&self, org: &OrgId, agent: &AgentId) -> Result<Vec<String>> {
        const SQL: &str = "SELECT DISTINCT cve FROM vuln_suppressions WHERE org_id = $1 \
            AND (agent_id = '' OR agent_id = $2)";
        let rows = self.db.query(SQL, &params![org.as_str(), agent.as_str()]).await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Replaces the agent's findings with `findings` (keeping `first_seen_at` of those it had, given in
    /// `first_seen`) and records `fires`, in one transaction.
    pub async fn replace_findings(
        &self,
        org: &OrgId,
        agent: &AgentId,
        findings: &[(Finding, i64)],
        fires: &[AlertFire],
    ) -> Result<()> {
        const CLEAR: &str = "DELETE FROM agent_vulns WHERE org_id = $1 AND agent_id = $2";
        const INSERT: &str = "INSERT INTO agent_vulns (org_id, agent_id, cve, package, binary_name, \
            installed_version, reported_package, fixed_version, advisories, severity, severity_level, vector_type, \
            first_seen_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
            WHERE EXISTS (SELECT 1 FROM agents WHERE org_id = $1 AND id = $2)";
        let now = now_millis();
        let mut stmts = vec![Stmt::new(CLEAR, params![org.as_str(), agent.as_str()])];
        for (f, first_seen) in findings {
            stmts.push(Stmt::new(
                INSERT,
                params![
                    org.as_str(),
                    agent.as_str(),
                    f.cve.as_str(),
                    f.package.as_str(),
                    f.binary_name.as_str(),
                    f.installed_version.as_str(),
                    f.reported_package.as_str(),
                    f.fixed_version.as_deref(),
                    f.advisories.as_str(),
                    f.severity.as_str(),
                    f.severity_level,
                    f.vector_type.as_deref(),
                    *first_seen
                ],
            ));
        }
        for fire in fires {
            fire_stmts("", "", fire, now, &mut stmts);
        }
        self.db.transaction(stmts).await?;
        Ok(())
    }

    /// One page of the org's vulnerabilities, grouped by (CVE, package, installed version), each group with
    /// all its matching findings (one per agent). Ordered by CVE, package and version.
    pub async fn list_vulns(&self, org: &OrgId, f: &VulnFilter, page: &PageQuery) -> Result<Page<Vec<FindingRow>>> {
        const SQL: &str = concat!(
            "SELECT ",
            finding_columns!("v"),
            " FROM agent_vulns v WHERE ",
            finding_filter!("v"),
            " AND (v.cve, v.package, v.installed_version) IN (SELECT DISTINCT w.cve, w.package, w.installed_version \
              FROM agent_vulns w WHERE ",
            finding_filter!("w"),
            " AND (w.cve, w.package, w.installed_version) > ($10, $11, $12) \
              ORDER BY w.cve, w.package, w.installed_version LIMIT $13) \
              ORDER BY v.cve, v.package, v.installed_version, v.agent_id"
        );
        let mut p = filter_params(org, f, page);
        let key = page.after.as_ref().map(|(_, k)| k.as_str()).unwrap_or("");
        let mut parts = key.splitn(3, KEY_SEP);
        for _ in 0..3 {
            p.push(parts.next().unwrap_or("").into());
        }
        p.push((i64::from(page.limit) + 1).into());
        let rows = self.db.query(SQL, &p).await?;
        let mut groups: Vec<Vec<FindingRow>> = Vec::new();
        for r in &rows {
            let row = FindingRow::from_row(r)?;
            match groups.last_mut() {
                Some(g) if same_group(&g[0], &row) => g.push(row),
                _ => groups.push(vec![row]),
            }
        }
        Ok(Page::from_rows(groups, page.limit, |g| {
            let f = &g[0].finding;
            (0, format!("{}{KEY_SEP}{}{KEY_SEP}{}", f.cve, f.package, f.installed_version))
        }))
    }

    /// The agents with a finding of `cve` (active or suppressed per `f`), by agent id.
    pub async fn vuln_servers(&self, org: &OrgId, f: &VulnFilter, page: &PageQuery) -> Result<Page<(AgentId, String)>> {
        const SQL: &str = concat!(
            "SELECT DISTINCT v.agent_id, a.hostname FROM agent_vulns v JOIN agents a ON a.id = v.agent_id WHERE ",
            finding_filter!("v"),
            " AND v.agent_id > $10 ORDER BY v.agent_id LIMIT $11"
        );
        let mut p = filter_params(org, f, page);
        p.push(page.after.as_ref().map(|(_, k)| k.as_str()).unwrap_or("").into());
        p.push((i64::from(page.limit) + 1).into());
        let rows = self.db.query(SQL, &p).await?;
        let items =
            rows.iter().map(|r| Ok((AgentId::from_trusted(r.text(0)?), r.text(1)?))).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |(id, _)| (0, id.as_str().to_string())))
    }

    /// How many entries ((CVE, package, installed version), as [`Store::list_vulns`] groups them) of each
    /// severity match `f` (its time window is not applied). Severities without any are left out.
    pub async fn vuln_severity_counts(&self, org: &OrgId, f: &VulnFilter) -> Result<Vec<(String, i64)>> {
        const SQL: &str = concat!(
            "SELECT g.severity, COUNT(*) FROM (SELECT DISTINCT v.severity, v.cve, v.package, v.installed_version \
             FROM agent_vulns v WHERE ",
            finding_filter!("v"),
            ") g GROUP BY g.severity"
        );
        let rows = self.db.query(SQL, &filter_params(org, f, &PageQuery::first(0))).await?;
        rows.iter().map(|r| Ok((r.text(0)?, r.i64(1)?))).collect()
    }

    /// Suppresses `cve` for the org (`agent` None) or one agent; replaces the reason of an existing one.
    pub async fn suppress_cve(
        &self,
        org: &OrgId,
        cve: &str,
        agent: Option<&AgentId>,
        reason: &str,
        by: Option<&UserId>,
    ) -> Result<SuppressionRow> {
        const SQL: &str = "INSERT INTO vuln_suppressions (org_id, cve, agent_id, reason, created_by, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, cve, agent_id) DO UPDATE SET reason = excluded.reason, \
            created_by = excluded.created_by, created_at = excluded.created_at";
        let now = now_millis();
        let p = params![org.as_str(), cve, agent.map_or("", |a| a.as_str()), reason, by.map(|u| u.as_str()), now];
        self.db.execute(SQL, &p).await?;
        Ok(SuppressionRow {
            cve: cve.to_string(),
            agent_id: agent.cloned(),
            reason: reason.to_string(),
            created_by: by.cloned(),
            created_at: now,
        })
    }

    /// Removes a suppression; false if there was none.
    pub async fn unsuppress_cve(&self, org: &OrgId, cve: &str, agent: Option<&AgentId>) -> Result<bool> {
        const SQL: &str = "DELETE FROM vuln_suppressions WHERE org_id = $1 AND cve = $2 AND agent_id = $3";
        Ok(self.db.execute(SQL, &params![org.as_str(), cve, agent.map_or("", |a| a.as_str())]).await? > 0)
    }
}

fn same_group(a: &FindingRow, b: &FindingRow) -> bool {
    a.finding.cve == b.finding.cve
        && a.finding.package == b.finding.package
        && a.finding.installed_version == b.finding.installed_version
}
