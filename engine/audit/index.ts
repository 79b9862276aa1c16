/** engine/audit — the append-only audit log of API changes and unmaskings (issue 15, contract C2). */
export { AuditLog, AUDIT_MIGRATIONS, type AuditSink, type AuditRecord, type AuditEntry, type AuditQuery } from './audit.ts';
