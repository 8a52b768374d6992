import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock.js';
import type { RequestScope } from '../../common/request-context.js';
import { DEFAULT_TENANT, type BotRef } from '../../common/tenant.js';
import { Notifiers, type Delivery } from '../../cost-monitoring/alerts/notifiers.js';
import { RedisService } from '../../redis/redis.service.js';
import { AnomalyScanRepository } from '../../redis/repositories/anomaly-scan.repository.js';
import { TelemetryService } from '../bot-telemetry/telemetry.service.js';
import { SEVERITY_RANK, type AnomalyDetectorSettings } from '../settings/agent-settings.js';
import { AgentSettingsService } from '../settings/agent-settings.service.js';
import type { DetectAnomaliesAnswer } from './anomaly-detector.dto.js';
import { AnomalyDetectorService } from './anomaly-detector.service.js';
import type { Anomaly } from './detectors.js';

const JOB = 'anomaly-scan';
const TICK_MS = 1000;
/** Bots scanned at once: enough to finish a scan of hundreds of bots quickly without flooding Redis. */
const CONCURRENCY = 8;

/** A scheduled scan's answer for one bot, as /agents/anomaly-detector/recent lists it. */
export interface ScanResult extends DetectAnomaliesAnswer {
  /** The bot's tenant. */
  tenant: string;
  scanned_at: string;
  scan_id: string;
}

/** An anomaly sent to the alert channels, with what each channel did. */
export interface AnomalyAlert {
  id: string;
  at: string;
  /** The bot's tenant. */
  tenant: string;
  bot_id: string;
  user_id: number;
  anomaly_type: Anomaly['anomaly_type'];
  metric?: Anomaly['metric'];
  severity: Anomaly['severity'];
  value: number;
  threshold: number;
  recommended_action: Anomaly['recommended_action'];
  description: string;
  message: string;
  deliveries: Delivery[];
}

/**
 * Scheduled anomaly scans: every `check_interval_seconds` (a setting, read again on every tick so a change
 * applies without a restart), one instance — the one that takes the Redis lease — runs the detector for every
 * bot that reported telemetry in the scan window, keeps each result, and sends each anomaly at or above
 * `alert_min_severity` once per bot, anomaly type and `alert_window_minutes` (a SET NX marker that expires
 * with the window). Each bot is scanned as its tenant: its AI explanation is that tenant's call (its cache,
 * budget and ledger), and its results and alerts are listed to that tenant only (and to admin keys).
 */
@Injectable()
export class AnomalyScanService {
  private readonly logger = new Logger(AnomalyScanService.name);
  private lastAttempt = -Infinity;
  private running = false;
  /** Scans this instance ran (the others skipped the tick): for operations and tests. */
  scansRun = 0;

  constructor(
    private readonly redis: RedisService,
    private readonly repository: AnomalyScanRepository,
    private readonly telemetry: TelemetryService,
    private readonly detector: AnomalyDetectorService,
    private readonly settings: AgentSettingsService,
    private readonly notifiers: Notifiers,
    private readonly clock: Clock,
  ) {}

  /**
   * Every second each instance looks whether `check_interval_seconds` has passed since its last attempt (the
   * setting is read each time, so a change applies at once); the lease then lets one instance scan per
   * interval.
   */
  @Interval(JOB, TICK_MS)
  async tick(): Promise<void> {
    if (this.running) return; // the previous scan is still going: skip, never pile up
    this.running = true;
    try {
      const { check_interval_seconds: seconds } = await this.settings.get('anomaly_detector');
      const now = performance.now();
      if (now - this.lastAttempt < seconds * 1000 - TICK_MS / 2) return;
      this.lastAttempt = now;
      await this.runScheduledScan();
    } catch (err) {
      this.logger.warn(`Anomaly scan failed: ${(err as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  /**
   * What each tick runs: the scan, by whichever instance takes the lease; null when another instance has it.
   * The lease is not released: it expires just before the next tick, so one scan runs per interval whatever
   * the phase of the instances' timers.
   */
  async runScheduledScan(): Promise<ScanResult[] | null> {
    const settings = await this.settings.get('anomaly_detector');
    const leaseMs = Math.max(500, Math.floor(settings.check_interval_seconds * 1000 * 0.9));
    const lease = await this.redis.acquireLease(JOB, leaseMs).catch(() => null);
    if (!lease) return null;
    this.scansRun++;
    return this.scan(settings);
  }

  /** Runs the detector for every bot that reported in the scan window; keeps results, sends alerts. */
  async scan(settings: AnomalyDetectorSettings): Promise<ScanResult[]> {
    const now = this.clock.now();
    const bots = await this.telemetry.activeSince(now - settings.scan_window_minutes * 60_000);
    const scanId = randomUUID();
    const results: ScanResult[] = [];
    for (let i = 0; i < bots.length; i += CONCURRENCY) {
      const batch = await Promise.all(
        bots.slice(i, i + CONCURRENCY).map((bot) => this.scanBot(bot, settings, scanId, now)),
      );
      results.push(...batch.filter((r): r is ScanResult => r !== null));
    }
    return results;
  }

  private async scanBot(
    bot: BotRef,
    settings: AnomalyDetectorSettings,
    scanId: string,
    now: number,
  ): Promise<ScanResult | null> {
    try {
      const userId = (await this.telemetry.userOf(bot)) ?? 0;
      const scope: RequestScope = {
        caller: { scope: 'anomaly-scan', tenant: bot.tenant, admin: false, key: null },
      };
      const answer = await this.detector.detect(
        {
          user_id: userId,
          bot_id: bot.botId,
          timeframe_minutes: settings.scan_window_minutes,
          include_ai: settings.scan_include_ai,
        },
        scope,
      );
      const result: ScanResult = {
        ...answer,
        tenant: bot.tenant,
        scanned_at: new Date(now).toISOString(),
        scan_id: scanId,
      };
      await this.repository.storeResult(bot, JSON.stringify(result));
      await this.alert(bot, userId, answer.anomalies, settings, now);
      return result;
    } catch (err) {
      // One bot's failure (its telemetry unreadable) must not stop the scan of the others.
      this.logger.warn(`Anomaly scan of bot ${nameOf(bot)} failed: ${(err as Error).message}`);
      return null;
    }
  }

  private async alert(
    bot: BotRef,
    userId: number,
    anomalies: Anomaly[],
    settings: AnomalyDetectorSettings,
    now: number,
  ): Promise<void> {
    const floor = SEVERITY_RANK[settings.alert_min_severity];
    for (const a of anomalies) {
      if (SEVERITY_RANK[a.severity] < floor) continue;
      const kind = a.metric ? `${a.anomaly_type}:${a.metric}` : a.anomaly_type;
      const fresh = await this.repository.claimAlert(bot, kind, settings.alert_window_minutes * 60, now);
      if (!fresh) continue;
      const id = randomUUID();
      const message =
        `Bot ${nameOf(bot)} (user ${userId}): ${a.severity} ${a.anomaly_type.replaceAll('_', ' ')} anomaly — ` +
        `${a.description}. Recommended action: ${a.recommended_action}.`;
      const base = {
        id,
        at: new Date(now).toISOString(),
        tenant: bot.tenant,
        bot_id: bot.botId,
        user_id: userId,
        anomaly_type: a.anomaly_type,
        ...(a.metric ? { metric: a.metric } : {}),
        severity: a.severity,
        value: a.value,
        threshold: a.threshold,
        recommended_action: a.recommended_action,
        description: a.description,
        message,
      };
      const deliveries = await this.notifiers.send({
        id,
        kind: 'anomaly_alert',
        label: 'anomaly alert',
        message,
        payload: base,
        emoji: ':rotating_light:',
      });
      const alert: AnomalyAlert = { ...base, deliveries };
      await this.repository.recordAlert(bot.tenant, JSON.stringify(alert));
      this.logger.warn(`Anomaly alert: ${message}`);
    }
  }

  /**
   * Scan results, newest first: of one tenant's bot, of one tenant's bots, or (tenant null) of the whole
   * deployment. Results stored before bots had tenants are the default tenant's.
   */
  async recent(tenant: string | null, botId: string | undefined, limit: number): Promise<ScanResult[]> {
    if (botId !== undefined) {
      const raw = await this.repository.recentOfBot({ tenant: tenant ?? DEFAULT_TENANT, botId }, limit);
      return raw.map((r) => withTenant(JSON.parse(r) as ScanResult));
    }
    return this.listed<ScanResult>(tenant, limit, (t, n) => this.repository.recent(t, n));
  }

  /** Alerts sent, newest first: of one tenant's bots, or (null) of the whole deployment. */
  async alerts(tenant: string | null, limit: number): Promise<AnomalyAlert[]> {
    return this.listed<AnomalyAlert>(tenant, limit, (t, n) => this.repository.alerts(t, n));
  }

  /**
   * A tenant's list, or the deployment's. The default tenant's list only exists since bots have tenants: what
   * came before is in the deployment's list without a `tenant` (every bot was the default tenant's then), so
   * it follows, oldest last, until the tenant's own list holds `limit` entries.
   */
  private async listed<T extends { tenant?: string }>(
    tenant: string | null,
    limit: number,
    read: (tenant: string | null, limit: number) => Promise<string[]>,
  ): Promise<(T & { tenant: string })[]> {
    const own = (await read(tenant, limit)).map((r) => JSON.parse(r) as T);
    if (tenant === DEFAULT_TENANT && own.length < limit) {
      const before = (await read(null, LEGACY_SCAN)).map((r) => JSON.parse(r) as T);
      own.push(...before.filter((r) => r.tenant === undefined).slice(0, limit - own.length));
    }
    return own.map(withTenant);
  }
}

/** How far back the deployment's lists are read for entries from before bots had tenants (their length). */
const LEGACY_SCAN = 500;

/** How a log line or an alert names a bot: its id, with its tenant unless that is the default one. */
const nameOf = (bot: BotRef): string =>
  bot.tenant === DEFAULT_TENANT ? bot.botId : `${bot.botId} of tenant ${bot.tenant}`;

const withTenant = <T extends { tenant?: string }>(stored: T): T & { tenant: string } => ({
  ...stored,
  tenant: stored.tenant ?? DEFAULT_TENANT,
});
