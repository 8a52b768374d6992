import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import { Public } from '../../common/auth.js';
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE, dashboardHtml } from './dashboard.page.js';

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The page never changes at run time, so its inline script and style are allowed by their hashes (computed
 * once here) rather than by 'unsafe-inline' or a per-request nonce. Everything else is refused: the page
 * loads nothing from anywhere, talks only to this origin, and may not be framed (clickjacking).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(DASHBOARD_STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = dashboardHtml();

/**
 * GET /dashboard: the cost dashboard page. It is public because it holds no data: the page asks for an API
 * key and every /ai-cost call it makes needs that key. Not part of the API, so not in the OpenAPI document.
 */
@ApiExcludeController()
@Public()
@Controller()
export class DashboardController {
  @Get('dashboard')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', DASHBOARD_CSP)
  @Header('x-content-type-options', 'nosniff')
  @Header('referrer-policy', 'no-referrer')
  // Always the running server's page: it is tiny, and an old copy may call an API that has changed.
  @Header('cache-control', 'no-store')
  page(): string {
    return PAGE;
  }
}
