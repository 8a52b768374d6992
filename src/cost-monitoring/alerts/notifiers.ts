import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { createRequire } from 'node:module';
import type { Transporter } from 'nodemailer';
import type { ConfigType } from '@nestjs/config';
import { alertsConfig } from '../../config/namespaces.js';

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
  /** The fixed costs counted in `spent_usd` (a deployment budget that includes them). */
  fixed_cost_usd?: number;
  enforcement: string;
  message: string;
}

/** Anything worth telling the operator (a budget crossing, a bot anomaly), as every channel renders it. */
export interface Notice {
  id: string;
  /** The webhook body's `type`. */
  kind: 'budget_alert' | 'anomaly_alert';
  /** Short label: "budget alert", "anomaly alert". */
  label: string;
  /** One paragraph for people: Slack, Telegram and the email's body. */
  message: string;
  /** The webhook's JSON body, after `type`. */
  payload: Record<string, unknown>;
  /** Slack's leading emoji. */
  emoji: string;
}

export interface Delivery {
  channel: 'webhook' | 'slack' | 'telegram' | 'email';
  ok: boolean;
  attempts: number;
  /** HTTP status, or the SMTP reply code for email. */
  status: number | null;
  error: string | null;
  at: string;
}

/** One attempt's outcome: ok, or why not and whether another attempt could help. */
interface Attempt {
  ok: boolean;
  status: number | null;
  error: string | null;
  retry: boolean;
}

interface Channel {
  name: Delivery['channel'];
  send(notice: Notice): Promise<Attempt>;
}

const DEADLINE_MS = 5000;
const ATTEMPTS = 3;

export function budgetNotice(alert: BudgetAlert): Notice {
  return {
    id: alert.id,
    kind: 'budget_alert',
    label: 'budget alert',
    message: alert.message,
    payload: { ...alert },
    emoji: ':warning:',
  };
}

/** A JSON POST with a deadline; a 4xx other than 429 will not get better by retrying. */
async function post(url: string, body: unknown): Promise<Attempt> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(DEADLINE_MS),
    });
    await res.text().catch(() => '');
    if (res.ok) return { ok: true, status: res.status, error: null, retry: false };
    return {
      ok: false,
      status: res.status,
      error: `HTTP ${res.status}`,
      retry: res.status >= 500 || res.status === 429,
    };
  } catch (err) {
    const timeout = (err as Error).name === 'TimeoutError';
    return {
      ok: false,
      status: null,
      error: timeout ? `no answer within ${DEADLINE_MS} ms` : 'connection failed',
      retry: true,
    };
  }
}

/**
 * Delivers alerts (budget crossings, bot anomalies) to every configured channel — webhook, Slack, Telegram,
 * email — each with a deadline and retries with backoff, none blocking another. Nothing here logs or returns
 * a channel's address or credentials (Telegram's token is in its URL, SMTP's password in SMTP_URL).
 */
@Injectable()
export class Notifiers implements OnApplicationShutdown {
  private readonly logger = new Logger(Notifiers.name);
  private readonly channels: Channel[] = [];
  private readonly mailer: Transporter | undefined;
  private backoffMs = 500;

  constructor(@Inject(alertsConfig.KEY) config: ConfigType<typeof alertsConfig>) {
    const webhook = config.alertWebhookUrl;
    if (webhook) {
      this.channels.push({
        name: 'webhook',
        send: (n) => post(webhook, { type: n.kind, ...n.payload }),
      });
    }
    const slack = config.slackWebhookUrl;
    if (slack) {
      // Slack incoming webhooks take {"text"} (mrkdwn); blocks are optional.
      this.channels.push({
        name: 'slack',
        send: (n) => post(slack, { text: `${n.emoji} *Bastion ${n.label}* — ${n.message}` }),
      });
    }
    if (config.telegramBotToken && config.telegramChatId) {
      const chatId = config.telegramChatId;
      const url = `${config.telegramApiUrl}/bot${config.telegramBotToken}/sendMessage`;
      this.channels.push({
        name: 'telegram',
        send: (n) =>
          post(url, {
            chat_id: chatId,
            text: `Bastion ${n.label} — ${n.message}`,
            disable_web_page_preview: true,
          }),
      });
    }
    if (config.email) {
      const { smtpUrl, from, to } = config.email;
      // One connection per message: alerts are rare, and a pooled connection would outlive an SMTP restart.
      // nodemailer is loaded only when e-mail alerts are configured.
      const { createTransport } = createRequire(import.meta.url)('nodemailer') as typeof import('nodemailer');
      const mailer = createTransport({
        url: smtpUrl,
        connectionTimeout: DEADLINE_MS,
        greetingTimeout: DEADLINE_MS,
        socketTimeout: DEADLINE_MS,
      });
      this.mailer = mailer;
      this.channels.push({ name: 'email', send: (n) => this.mail(mailer, from, to, n) });
    }
  }

  get configured(): string[] {
    return this.channels.map((c) => c.name);
  }

  /** Tests shorten the wait between retries. */
  setBackoff(ms: number): void {
    this.backoffMs = ms;
  }

  /** A budget alert on every channel (its webhook body is `{"type":"budget_alert", ...alert}`). */
  async deliver(alert: BudgetAlert): Promise<Delivery[]> {
    return this.send(budgetNotice(alert));
  }

  async send(notice: Notice): Promise<Delivery[]> {
    return Promise.all(this.channels.map((c) => this.deliverOne(c, notice)));
  }

  onApplicationShutdown(): void {
    this.mailer?.close();
  }

  private async deliverOne(channel: Channel, notice: Notice): Promise<Delivery> {
    let last: Attempt = { ok: false, status: null, error: 'not attempted', retry: false };
    let attempt = 0;
    while (attempt < ATTEMPTS) {
      attempt++;
      last = await channel.send(notice);
      if (last.ok || !last.retry) break;
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
    }
    const delivery: Delivery = {
      channel: channel.name,
      ok: last.ok,
      attempts: last.ok || !last.retry ? attempt : ATTEMPTS,
      status: last.status,
      error: last.ok ? null : last.error,
      at: new Date().toISOString(),
    };
    if (!last.ok) {
      this.logger.warn(`${notice.label} ${notice.id} not delivered to ${channel.name}: ${last.error}`);
    }
    return delivery;
  }

  /** SMTP: a 5xx reply is permanent (bad recipient, refused sender) and is not retried; 4xx and I/O are. */
  private async mail(mailer: Transporter, from: string, to: string[], n: Notice): Promise<Attempt> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('deadline')), DEADLINE_MS);
    });
    try {
      await Promise.race([
        mailer.sendMail({
          from,
          to,
          subject: `Bastion ${n.label}`,
          text: n.message,
          // The machine-readable alert for mail filters and scripts.
          headers: { 'X-Bastion-Alert': n.kind },
        }),
        deadline,
      ]);
      return { ok: true, status: 250, error: null, retry: false };
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      if (e.message === 'deadline') {
        return { ok: false, status: null, error: `no answer within ${DEADLINE_MS} ms`, retry: true };
      }
      const code = typeof e.responseCode === 'number' ? e.responseCode : null;
      // The reply code and nodemailer's error code name the problem; the text may quote an address.
      return {
        ok: false,
        status: code,
        error: code !== null ? `SMTP ${code}` : `SMTP ${e.code ?? 'connection failed'}`,
        retry: code === null || code < 500,
      };
    } finally {
      clearTimeout(timer);
    }
  }
}
