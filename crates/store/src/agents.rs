//! Host agents: enrollment credentials and the hosts that report with them.

use tlink_domain::{AgentId, EnrollmentId, OrgId};

use crate::db::{Row, now_millis};
use crate::{Page, PageQuery, Result, Store, params};

/// A new enrollment credential (the token itself is shown once and never stored).
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    pub name: String,
    pub prefix: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
}

#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    pub id: EnrollmentId,
    pub org_id: OrgId,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
}

/// A live enrollment whose prefix matched, for the caller to compare hashes in constant time.
#[derive(Debug, Clone)]
pub struct EnrollmentCandidate {
    pub id: EnrollmentId,
    pub org_id: OrgId,
    pub token_hash: String,
}

/// What an agent reports. `inventory` is absent on a heartbeat whose digest matches.
#[derive(Debug, Clone)]
pub struct AgentReport {
    pub instance_id: String,
    pub hostname: String,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    pub version: Option<String>,
    /// The distribution release as OSV names it (`Debian:12`), when the host's os-release names one.
    pub distro: Option<String>,
    /// JSON `[{"key": …, "value": …}]`.
    pub tags: String,
    /// JSON `{"private": [...], "link_local": [...], "public": [...]}`.
    pub ip_addresses: String,
    pub digest: Option<String>,
    pub inventory: Option<Inventory>,
}

/// Installed packages and listening ports, as JSON arrays.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub packages: String,
    pub ports: String,
}

#[derive(Debug, Clone)]
pub struct AgentRow {
    pub id: AgentId,
    pub org_id: OrgId,
    pub instance_id: String,
    pub hostname: String,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    pub version: Option<String>,
    pub ip_addresses: String,
    pub packages: String,
    pub ports: String,
    pub inventory_digest: Option<String>,
    pub created_at: i64,
    pub last_reported_at: i64,
    pub distro: Option<String>,
    pub tags: String,
}

/// The columns [`AgentRow::from_row`] reads, in its order.
macro_rules! agent_columns {
    () => {
        "id, org_id, instance_id, hostname, os_version, kernel, version, ip_addresses, packages, ports, \
         inventory_digest, created_at, last_reported_at, distro, tags"
    };
}
pub(crate) use agent_columns;

impl AgentRow {
    pub(crate) fn from_row(r: &Row) -> Result<AgentRow> {
        Ok(AgentRow {
            id: AgentId::from_trusted(r.text(0)?),
            org_id: OrgId::from_trusted(r.text(1)?),
            instance_id: r.text(2)?,
            hostname: r.text(3)?,
            os_version: r.opt_text(4)?,
            kernel: r.opt_text(5)?,
            version: r.opt_text(6)?,
            ip_addresses: r.text(7)?,
            packages: r.text(8)?,
            ports: r.text(9)?,
            inventory_digest: r.opt_text(10)?,
            created_at: r.i64(11)?,
            last_reported_at: r.i64(12)?,
            distro: r.opt_text(13)?,
            tags: r.text(14)?,
        })
    }
}

impl Store {
    pub async fn create_enrollment(&self, org: &OrgId, new: NewEnrollment) -> Result<EnrollmentRow> {
        let id = EnrollmentId::new();
        let now = now_millis();
        const SQL: &str = "INSERT INTO agent_enrollments (id, org_id, name, prefix, token_hash, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        let p =
            params![id.as_str(), org.as_str(), new.name.as_str(), new.prefix.as_str(), new.token_hash.as_str(), now];
        self.db.execute(SQL, &p).await?;
        Ok(EnrollmentRow { id, org_id: org.clone(), name: new.name, prefix: new.prefix, created_at: now })
    }

    /// Live enrollments with this prefix.
    pub async fn enrollment_candidates(&self, prefix: &str) -> Result<Vec<EnrollmentCandidate>> {
        const SQL: &str =
            "SELECT id, org_id, token_hash FROM agent_enrollments WHERE prefix = $1 AND revoked_at IS NULL";
        let rows = self.db.query(SQL, &params![prefix]).await?;
        rows.iter()
            .map(|r| {
                Ok(EnrollmentCandidate {
                    id: EnrollmentId::from_trusted(r.text(0)?),
                    org_id: OrgId::from_trusted(r.text(1)?),
                    token_hash: r.text(2)?,
                })
            })
            .collect()
    }

    /// The org's live (not revoked) enrollments, newest first.
    pub async fn list_enrollments(&self, org: &OrgId, page: &PageQuery) -> Result<Page<EnrollmentRow>> {
        const SQL: &str = "SELECT id, org_id, name, prefix, created_at FROM agent_enrollments \
            WHERE org_id = $1 AND revoked_at IS NULL AND (created_at, id) < ($2, $3) AND created_at >= $4 \
            AND created_at < $5 ORDER BY created_at DESC, id DESC LIMIT $6";
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(EnrollmentRow {
                    id: EnrollmentId::from_trusted(r.text(0)?),
                    org_id: OrgId::from_trusted(r.text(1)?),
                    name: r.text(2)?,
                    prefix: r.text(3)?,
                    created_at: r.i64(4)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |e| (e.created_at, e.id.as_str().to_string())))
    }

    /// Revokes an enrollment of `org`; its agents can no longer report. False if there is none.
    pub async fn revoke_enrollment(&self, org: &OrgId, id: &EnrollmentId) -> Result<bool> {
        const SQL: &str =
            "UPDATE agent_enrollments SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL";
        Ok(self.db.execute(SQL, &params![org.as_str(), id.as_str(), now_millis()]).await? == 1)
    }

    /// Records a report: creates the host's agent on its first report, updates what it reports, and stores
    /// the inventory when one is sent. Returns the agent and whether the server still needs the inventory
    /// (the digest sent differs from the one stored, or none was ever received).
    pub async fn record_report(
        &self,
        org: &OrgId,
        enrollment: &EnrollmentId,
        report: &AgentReport,
    ) -> Result<(AgentRow, bool)> {
        let now = now_millis();
        const UPSERT: &str = concat!(
            "INSERT INTO agents (id, org_id, enrollment_id, instance_id, hostname, os_version, kernel, version, \
             ip_addresses, packages, ports, created_at, last_reported_at, distro, tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '[]', '[]', $10, $10, $11, $12) \
             ON CONFLICT (org_id, instance_id) DO UPDATE SET enrollment_id = excluded.enrollment_id, \
             hostname = excluded.hostname, os_version = excluded.os_version, kernel = excluded.kernel, \
             distro = excluded.distro, tags = excluded.tags, \
             version = excluded.version, ip_addresses = excluded.ip_addresses, \
             last_reported_at = excluded.last_reported_at RETURNING ",
            agent_columns!()
        );
        const INVENTORY: &str = concat!(
            "UPDATE agents SET packages = $3, ports = $4, inventory_digest = $5 WHERE org_id = $1 AND id = $2 \
             RETURNING ",
            agent_columns!()
        );
        let p = params![
            AgentId::new().as_str(),
            org.as_str(),
            enrollment.as_str(),
            report.instance_id.as_str(),
            report.hostname.as_str(),
            report.os_version.as_deref(),
            report.kernel.as_deref(),
            report.version.as_deref(),
            report.ip_addresses.as_str(),
            now,
            report.distro.as_deref(),
            report.tags.as_str()
        ];
        let row = self.db.query_opt(UPSERT, &p).await?.ok_or(crate::DbError::Decode { index: 0, expected: "agent" })?;
        let mut agent = AgentRow::from_row(&row)?;
        if let Some(inv) = &report.inventory {
            let p = params![
                org.as_str(),
                agent.id.as_str(),
                inv.packages.as_str(),
                inv.ports.as_str(),
                report.digest.as_deref()
            ];
            if let Some(r) = self.db.query_opt(INVENTORY, &p).await? {
                agent = AgentRow::from_row(&r)?;
            }
        }
        let need = agent.inventory_digest.is_none() || agent.inventory_digest != report.digest;
        Ok((agent, need))
    }

    pub async fn get_agent(&self, org: &OrgId, id: &AgentId) -> Result<Option<AgentRow>> {
        const SQL: &str = concat!("SELECT ", agent_columns!(), " FROM agents WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(AgentRow::from_row).transpose()
    }

    /// The org's agents, newest first; with `online`, only those that reported since (`Some(true)`) or
    /// not since (`Some(false)`) `seen_since`.
    pub async fn list_agents(
        &self,
        org: &OrgId,
        online: Option<bool>,
        seen_since: i64,
        page: &PageQuery,
    ) -> Result<Page<AgentRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 \
              AND created_at < $5 AND ($7 = 0 OR ($7 = 1 AND last_reported_at >= $8) \
              OR ($7 = 2 AND last_reported_at < $8)) ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        let mode: i64 = match online {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        p.push(mode.into());
        p.push(seen_since.into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(AgentRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |a| (a.created_at, a.id.as_str().to_string())))
    }
}
