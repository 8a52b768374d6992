import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';

export interface BudgetAlert {
  id: string;
  at: string;
  scope: string;
  period: 'daily' | 'monthly';
  period_id: string;
  threshold_percent: number;
  spent_usd: number;
  budget_usd: number;
  usage_percent: number;
  enforcement: string;
  message: string;
}

export interface Delivery {
  channel: 'webhook' | 'slack' | 'telegram';
  ok: boolean;
  attempts: number;
  status: number | null;
  error: string | null;
  at: string;
}

interface Channel {
  name: Delivery['channel'];
  /** Where to POST; may hold a secret (Telegram's token), so it is never logged or stored. */
  url: string;
  body(alert: BudgetAlert): unknown;
}

const DEADLINE_MS = 5000;
const ATTEMPTS = 3;

/** Delivers budget alerts to every configured channel: each with a deadline and retries, none blocking another. */
@Injectable()
export class Notifiers {
  private readonly logger = new Logger(Notifiers.name);
  private readonly channels: Channel[] = [];
  private backoffMs = 500;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    if (config.alertWebhookUrl) {
      this.channels.push({
        name: 'webhook',
        url: config.alertWebhookUrl,
        body: (a) => ({ type: 'budget_alert', ...a }),
      });
    }
    if (config.slackWebhookUrl) {
      // Slack incoming webhooks take {"text"} (mrkdwn); blocks are optional.
      this.channels.push({
        name: 'slack',
        url: config.slackWebhookUrl,
        body: (a) => ({ text: `:warning: *Bastion budget alert* — ${a.message}` }),
      });
    }
    if (config.telegramBotToken && config.telegramChatId) {
      const chatId = config.telegramChatId;
      this.channels.push({
        name: 'telegram',
        url: `${config.telegramApiUrl}/bot${config.telegramBotToken}/sendMessage`,
        body: (a) => ({
          chat_id: chatId,
          text: `Bastion budget alert — ${a.message}`,
          disable_web_page_preview: true,
        }),
      });
    }
  }

  get configured(): string[] {
    return this.channels.map((c) => c.name);
  }

  /** Tests shorten the wait between retries. */
  setBackoff(ms: number): void {
    this.backoffMs = ms;
  }

  async deliver(alert: BudgetAlert): Promise<Delivery[]> {
    return Promise.all(this.channels.map((c) => this.deliverOne(c, alert)));
  }

  private async deliverOne(channel: Channel, alert: BudgetAlert): Promise<Delivery> {
    let status: number | null = null;
    let error: string | null = null;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const res = await fetch(channel.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(channel.body(alert)),
          signal: AbortSignal.timeout(DEADLINE_MS),
        });
        status = res.status;
        await res.text().catch(() => '');
        if (res.ok)
          return {
            channel: channel.name,
            ok: true,
            attempts: attempt,
            status,
            error: null,
            at: new Date().toISOString(),
          };
        error = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break; // a 4xx will not get better by retrying
      } catch (err) {
        status = null;
        error =
          (err as Error).name === 'TimeoutError' ? `no answer within ${DEADLINE_MS} ms` : 'connection failed';
      }
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
    }
    this.logger.warn(`Budget alert ${alert.id} not delivered to ${channel.name}: ${error}`);
    return {
      channel: channel.name,
      ok: false,
      attempts: ATTEMPTS,
      status,
      error,
      at: new Date().toISOString(),
    };
  }
}
