/** What a managed API key may do (POST /admin/keys); keys from the environment have none of these limits. */
export interface KeyPolicy {
  id: string;
  name: string;
  /** Requests per minute (null: no limit). */
  rpm: number | null;
  /** Tokens per minute, counted as the prompt's likely tokens plus max_tokens (null: no limit). */
  tpm: number | null;
  dailyBudgetUsd: number | null;
  monthlyBudgetUsd: number | null;
  /** Agents the key may call as (null: any). */
  agents: string[] | null;
  /** Models the key may ask for (null: any). */
  models: string[] | null;
}

/** Who sent a request: the key's identity (never the key), its tenant, and whether it is an admin key. */
export interface Caller {
  /** A short, non-secret identity of the key: its place in API_KEYS/ADMIN_API_KEYS, or its managed id. */
  scope: string;
  /** Whose caches, last answers and batches the caller shares. */
  tenant: string;
  admin: boolean;
  /** A managed key's limits (null for a key from the environment). */
  key: KeyPolicy | null;
}
