/** The tenant of keys that name none (`API_KEYS` entries without `tenant:`), and of internal callers. */
export const DEFAULT_TENANT = 'default';

/** A tenant's bot: bot ids are the tenant's own, so two tenants may both run a `grid-eth-07`. */
export interface BotRef {
  tenant: string;
  botId: string;
}

/**
 * The one string naming a tenant's bot in Redis keys and indexes: the bot id itself for the default tenant
 * (the form stored before bots had tenants, so a single-tenant deployment keeps its telemetry), else
 * `tenant:botId`. Neither a tenant nor a bot id may contain `:`, so the form is unambiguous.
 */
export const botKeyOf = (bot: BotRef): string =>
  bot.tenant === DEFAULT_TENANT ? bot.botId : `${bot.tenant}:${bot.botId}`;

/** The bot a botKeyOf string names. */
export function botRefOf(key: string): BotRef {
  const colon = key.indexOf(':');
  return colon < 0
    ? { tenant: DEFAULT_TENANT, botId: key }
    : { tenant: key.slice(0, colon), botId: key.slice(colon + 1) };
}
