/** Who sent a request: the key's identity (never the key), its tenant, and whether it is an admin key. */
export interface Caller {
  /** A short, non-secret identity of the key (its position in its list). */
  scope: string;
  /** Whose caches, last answers and batches the caller shares. */
  tenant: string;
  admin: boolean;
}
