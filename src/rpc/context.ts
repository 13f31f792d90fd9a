/**
 * The request context's keys the Director sets itself (contract §2); any other key is the
 * operator's cpi-config. A module of its own: the redaction code in every chunk imports it.
 */
export const DIRECTOR_CONTEXT_KEYS: ReadonlySet<string> = new Set(['director_uuid', 'request_id', 'vm']);
