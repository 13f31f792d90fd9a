/** The CPI's own environment variables; a module of its own so main need not load the config code early. */
export const CONFIG_ENV = 'BOSH_CPI_CONFIG';
export const LOG_LEVEL_ENV = 'BOSH_CPI_LOG_LEVEL';
export const STATE_DIR_ENV = 'BOSH_CPI_STATE_DIR';
