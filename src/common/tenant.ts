/** The tenant of keys that name none (`API_KEYS` entries without `tenant:`), and of internal callers. */
export const DEFAULT_TENANT = 'default';
