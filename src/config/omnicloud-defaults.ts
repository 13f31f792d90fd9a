/**
 * Defaults of the omnicloud configuration block, shared by its schema (in the core) and the
 * `bin/cpi omni` debugging CLI (in the omnicloud chunk): plain values, so neither pulls in the other.
 */
export const OMNICLOUD_DEFAULTS = {
  timeout_seconds: 300,
  connect_timeout_seconds: 10,
  max_output_bytes: 8 * 1024 * 1024,
  max_error_bytes: 256 * 1024,
  cache_seconds: 3600,
} as const;
